#include "widgets/panels.hpp"

#include "models/eventtext.hpp"
#include "models/processlistmodel.hpp"
#include "utrace/session.hpp"

#include <QButtonGroup>
#include <QCheckBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QTableView>
#include <QTextBrowser>
#include <QVBoxLayout>

namespace utraceui {

// ---- Processes --------------------------------------------------------------

ProcessesPanel::ProcessesPanel(ProcessListModel *model, QWidget *parent)
    : QWidget(parent), proxy_(new ProcessFilterProxy(this)), view_(new QTableView),
      filter_(new QLineEdit)
{
    proxy_->setSourceModel(model);
    view_->setModel(proxy_);
    view_->setSortingEnabled(true);
    view_->sortByColumn(ProcessListModel::PidColumn, Qt::AscendingOrder);
    view_->setSelectionBehavior(QAbstractItemView::SelectRows);
    view_->setSelectionMode(QAbstractItemView::SingleSelection);
    view_->verticalHeader()->hide();
    view_->horizontalHeader()->setStretchLastSection(true);
    filter_->setPlaceholderText(tr("Filter by name, PID or user"));
    filter_->setClearButtonEnabled(true);
    auto *refresh = new QPushButton(tr("Refresh"));
    auto *attach = new QPushButton(tr("Attach"));
    attach->setToolTip(tr("Attach an engine to every thread of the selected process"));
    auto *launch = new QPushButton(tr("Launch…"));
    launch->setToolTip(tr("Start a program held at its first instruction"));
    auto *bar = new QHBoxLayout;
    bar->addWidget(filter_, 1);
    bar->addWidget(refresh);
    auto *buttons = new QHBoxLayout;
    buttons->addWidget(attach);
    buttons->addWidget(launch);
    buttons->addStretch();
    auto *lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    lay->addLayout(bar);
    lay->addWidget(view_);
    lay->addLayout(buttons);
    connect(filter_, &QLineEdit::textChanged, proxy_, &QSortFilterProxyModel::setFilterFixedString);
    connect(refresh, &QPushButton::clicked, this, &ProcessesPanel::refreshRequested);
    auto doAttach = [this] {
        if (int pid = selectedPid(); pid > 0)
            emit attachRequested(pid);
    };
    connect(attach, &QPushButton::clicked, this, doAttach);
    connect(view_, &QTableView::doubleClicked, this, doAttach);
    connect(launch, &QPushButton::clicked, this, [this] {
        LaunchDialog d(this);
        if (d.exec() == QDialog::Accepted && !d.argv().isEmpty())
            emit launchRequested(d.argv(), d.env(), d.cwd());
    });
}

int ProcessesPanel::selectedPid() const
{
    const QModelIndex i = view_->currentIndex();
    return i.isValid() ? i.data(ProcessListModel::PidRole).toInt() : 0;
}

// ---- Launch -----------------------------------------------------------------

LaunchDialog::LaunchDialog(QWidget *parent)
    : QDialog(parent), command_(new QLineEdit), env_(new QPlainTextEdit), cwd_(new QLineEdit)
{
    setWindowTitle(tr("Launch a program"));
    command_->setPlaceholderText(tr("/usr/bin/ls -l /tmp"));
    env_->setPlaceholderText(tr("NAME=value, one a line (empty: inherit the environment)"));
    env_->setMaximumHeight(90);
    cwd_->setPlaceholderText(tr("(inherit)"));
    auto *form = new QFormLayout;
    form->addRow(tr("Command and arguments:"), command_);
    form->addRow(tr("Environment:"), env_);
    form->addRow(tr("Working directory:"), cwd_);
    auto *note = new QLabel(tr("The program starts held at its first instruction: set events "
                               "in the Engines panel, then Resume or Step."));
    note->setWordWrap(true);
    auto *bb = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    bb->button(QDialogButtonBox::Ok)->setText(tr("Launch"));
    auto *lay = new QVBoxLayout(this);
    lay->addLayout(form);
    lay->addWidget(note);
    lay->addWidget(bb);
    connect(bb, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(bb, &QDialogButtonBox::rejected, this, &QDialog::reject);
}

QStringList LaunchDialog::splitCommand(const QString &line)
{
    QStringList out;
    QString cur;
    bool in = false, any = false;
    QChar quote;
    for (int i = 0; i < line.size(); i++) {
        const QChar c = line[i];
        if (!quote.isNull()) {
            if (c == quote)
                quote = QChar();
            else if (c == QLatin1Char('\\') && quote == QLatin1Char('"') && i + 1 < line.size())
                cur += line[++i];
            else
                cur += c;
        } else if (c == QLatin1Char('"') || c == QLatin1Char('\'')) {
            quote = c;
            in = any = true;
        } else if (c == QLatin1Char('\\') && i + 1 < line.size()) {
            cur += line[++i];
            in = any = true;
        } else if (c.isSpace()) {
            if (in)
                out << cur;
            cur.clear();
            in = any = false;
        } else {
            cur += c;
            in = any = true;
        }
    }
    if (in || any)
        out << cur;
    return out;
}

QStringList LaunchDialog::argv() const
{
    return splitCommand(command_->text());
}

QStringList LaunchDialog::env() const
{
    QStringList out;
    for (const auto &l : env_->toPlainText().split(QLatin1Char('\n'), Qt::SkipEmptyParts))
        if (l.contains(QLatin1Char('=')))
            out << l.trimmed();
    return out;
}

QString LaunchDialog::cwd() const
{
    return cwd_->text().trimmed();
}

void LaunchDialog::set(const QStringList &argv, const QStringList &env, const QString &cwd)
{
    QStringList quoted;
    for (const auto &a : argv)
        quoted << (a.contains(QLatin1Char(' ')) || a.isEmpty()
                       ? QLatin1Char('\'') + a + QLatin1Char('\'')
                       : a);
    command_->setText(quoted.join(QLatin1Char(' ')));
    env_->setPlainText(env.join(QLatin1Char('\n')));
    cwd_->setText(cwd);
}

// ---- Engines ----------------------------------------------------------------

namespace {
struct EventRow {
    uint64_t bit;
    const char *label;
};
const EventRow kEventRows[] = {
    {utrace::ev::SyscallEntry, "syscall entry"},
    {utrace::ev::SyscallExit, "syscall exit"},
    {utrace::ev::Signal, "signal (handled)"},
    {utrace::ev::SignalIgn, "signal (ignored)"},
    {utrace::ev::SignalStop, "signal (stops)"},
    {utrace::ev::SignalTerm, "signal (kills)"},
    {utrace::ev::SignalCore, "signal (core)"},
    {utrace::ev::Clone, "clone / fork"},
    {utrace::ev::Exec, "exec"},
    {utrace::ev::Exit, "exit"},
    {utrace::ev::Death, "death"},
    {utrace::ev::Reap, "reap"},
    {utrace::ev::Quiesce, "quiesce"},
};
} // namespace

QString EnginesPanel::explain(uint64_t bit)
{
    switch (bit) {
    case utrace::ev::SyscallEntry:
        return tr("The thread asks the kernel for something; its arguments are known.");
    case utrace::ev::SyscallExit:
        return tr("The kernel answers: the syscall's result or error.");
    case utrace::ev::Signal:
        return tr("A signal about to run the program's handler.");
    case utrace::ev::SignalIgn:
        return tr("A signal the program ignores.");
    case utrace::ev::SignalStop:
        return tr("A signal that would stop the process (SIGSTOP, Ctrl-Z).");
    case utrace::ev::SignalTerm:
        return tr("A signal that would terminate the process.");
    case utrace::ev::SignalCore:
        return tr("A signal that would kill it with a core dump (SIGSEGV...).");
    case utrace::ev::Clone:
        return tr("A new thread or process was created.");
    case utrace::ev::Exec:
        return tr("The process started running a new program.");
    case utrace::ev::Exit:
        return tr("A thread is exiting (its memory is still there).");
    case utrace::ev::Death:
        return tr("A thread is dead.");
    case utrace::ev::Reap:
        return tr("A dead thread was cleaned up (its parent waited).");
    case utrace::ev::Quiesce:
        return tr("The thread reached a safe point after a stop request.");
    }
    return {};
}

EnginesPanel::EnginesPanel(QWidget *parent)
    : QWidget(parent), search_(new QLineEdit), syscalls_(new QListWidget),
      follow_(new QCheckBox(tr("Follow children (new threads and processes get the same "
                               "engine before their first instruction)"))),
      args_(new QCheckBox(tr("Capture syscall arguments")))
{
    auto *events = new QGroupBox(tr("Events"));
    auto *grid = new QGridLayout(events);
    grid->addWidget(new QLabel(tr("<b>Report</b>")), 0, 0);
    grid->addWidget(new QLabel(tr("<b>Stop</b>")), 0, 1);
    int r = 1;
    for (const auto &er : kEventRows) {
        auto *rep = new QCheckBox(tr(er.label));
        auto *stop = new QCheckBox;
        stop->setToolTip(tr("Hold the thread at this event until you resume it"));
        auto *why = new QLabel(explain(er.bit));
        why->setWordWrap(true);
        QFont f = why->font();
        f.setPointSizeF(f.pointSizeF() * 0.9);
        why->setFont(f);
        grid->addWidget(rep, r, 0);
        grid->addWidget(stop, r, 1);
        grid->addWidget(why, r, 2);
        connect(rep, &QCheckBox::toggled, stop, [stop](bool on) {
            stop->setEnabled(on);
            if (!on)
                stop->setChecked(false);
        });
        stop->setEnabled(false);
        rows_.push_back({er.bit, rep, stop});
        r++;
    }
    grid->setColumnStretch(2, 1);

    auto *filter = new QGroupBox(tr("Syscall filter (none ticked: every syscall)"));
    search_->setPlaceholderText(tr("Search syscalls"));
    search_->setClearButtonEnabled(true);
    for (const auto &n : allSyscallNames()) {
        auto *it = new QListWidgetItem(n, syscalls_);
        it->setFlags(it->flags() | Qt::ItemIsUserCheckable);
        it->setCheckState(Qt::Unchecked);
    }
    syscalls_->setMinimumHeight(120);
    auto *fl = new QVBoxLayout(filter);
    fl->addWidget(search_);
    fl->addWidget(syscalls_);
    connect(search_, &QLineEdit::textChanged, this, [this](const QString &t) {
        for (int i = 0; i < syscalls_->count(); i++)
            syscalls_->item(i)->setHidden(
                !syscalls_->item(i)->text().contains(t, Qt::CaseInsensitive));
    });

    auto *apply = new QPushButton(tr("Apply to the target"));
    auto *inner = new QWidget;
    auto *lay = new QVBoxLayout(inner);
    lay->addWidget(events);
    lay->addWidget(filter, 1);
    lay->addWidget(follow_);
    lay->addWidget(args_);
    lay->addWidget(apply);
    auto *scroll = new QScrollArea;
    scroll->setWidget(inner);
    scroll->setWidgetResizable(true);
    auto *outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->addWidget(scroll);
    connect(apply, &QPushButton::clicked, this, [this] { emit applyRequested(config()); });

    EngineConfig def;
    def.events = utrace::ev::All & ~utrace::ev::Quiesce;
    def.stopEvents = utrace::ev::Exec;
    setConfig(def);
}

EngineConfig EnginesPanel::config() const
{
    EngineConfig c;
    for (const auto &r : rows_) {
        if (r.report->isChecked())
            c.events |= r.bit;
        if (r.stop->isChecked())
            c.stopEvents |= r.bit;
    }
    // Stops are reported by definition.
    c.events |= c.stopEvents;
    for (int i = 0; i < syscalls_->count(); i++)
        if (syscalls_->item(i)->checkState() == Qt::Checked)
            c.syscalls << syscalls_->item(i)->text();
    c.followChildren = follow_->isChecked();
    c.captureArgs = args_->isChecked();
    return c;
}

void EnginesPanel::setConfig(const EngineConfig &c)
{
    for (const auto &r : rows_) {
        r.report->setChecked(c.events & r.bit);
        r.stop->setChecked(c.stopEvents & r.bit);
    }
    for (int i = 0; i < syscalls_->count(); i++)
        syscalls_->item(i)->setCheckState(
            c.syscalls.contains(syscalls_->item(i)->text()) ? Qt::Checked : Qt::Unchecked);
    follow_->setChecked(c.followChildren);
    args_->setChecked(c.captureArgs);
}

// ---- Classroom --------------------------------------------------------------

ClassroomPanel::ClassroomPanel(QWidget *parent)
    : QWidget(parent), text_(new QTextBrowser), scale_(new QSpinBox), rate_(new QSpinBox),
      play_(new QPushButton(tr("▶ Auto-step")))
{
    text_->setOpenExternalLinks(false);
    text_->setPlaceholderText(tr("Select an event, a thread stopped at a syscall, or a signal: "
                                 "what it means appears here."));
    scale_->setRange(50, 400);
    scale_->setSingleStep(25);
    scale_->setSuffix(QStringLiteral(" %"));
    scale_->setValue(100);
    scale_->setToolTip(tr("Presenter font scale for the whole window"));
    rate_->setRange(50, 10000);
    rate_->setSingleStep(250);
    rate_->setValue(1000);
    rate_->setSuffix(tr(" ms"));
    rate_->setToolTip(tr("Slow motion: time between steps to the next event"));
    play_->setCheckable(true);
    auto *bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Font:")));
    bar->addWidget(scale_);
    bar->addStretch();
    bar->addWidget(new QLabel(tr("Every")));
    bar->addWidget(rate_);
    bar->addWidget(play_);
    auto *lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    lay->addLayout(bar);
    lay->addWidget(text_, 1);
    connect(scale_, &QSpinBox::valueChanged, this, &ClassroomPanel::fontScaleChanged);
    connect(play_, &QPushButton::toggled, this, [this](bool on) {
        play_->setText(on ? tr("⏸ Pause") : tr("▶ Auto-step"));
        emit autoStepChanged(on, rate_->value());
    });
    connect(rate_, &QSpinBox::valueChanged, this, [this](int v) {
        if (play_->isChecked())
            emit autoStepChanged(true, v);
    });
}

void ClassroomPanel::setHtml(const QString &html)
{
    text_->setHtml(html);
}
QString ClassroomPanel::html() const
{
    return text_->toHtml();
}
int ClassroomPanel::fontScale() const
{
    return scale_->value();
}
void ClassroomPanel::setFontScale(int percent)
{
    scale_->setValue(percent);
}
int ClassroomPanel::autoStepIntervalMs() const
{
    return rate_->value();
}
bool ClassroomPanel::autoStepping() const
{
    return play_->isChecked();
}
void ClassroomPanel::setAutoStepping(bool on)
{
    play_->setChecked(on);
}

// ---- Connect ----------------------------------------------------------------

ConnectDialog::ConnectDialog(QWidget *parent)
    : QDialog(parent), device_(new QLineEdit(QStringLiteral("/dev/utrace"))),
      remote_(new QLineEdit(QStringLiteral("127.0.0.1:4711"))),
      ssh_(new QLineEdit(QStringLiteral("ssh user@host utrace-agent --stdio"))),
      demo_(new QLineEdit(QStringLiteral("tools/demo --agent 4711")))
{
    setWindowTitle(tr("Connect"));
    const char *labels[] = {"This machine (the utrace module loaded here)",
                            "A utrace-agent over TCP (host:port)", "A utrace-agent over ssh",
                            "The demo VM (boots the project's VM with the module and the agent)"};
    auto *group = new QButtonGroup(this);
    auto *grid = new QGridLayout;
    QLineEdit *edits[] = {device_, remote_, ssh_, demo_};
    for (int i = 0; i < 4; i++) {
        modes_[i] = new QRadioButton(tr(labels[i]));
        group->addButton(modes_[i], i);
        grid->addWidget(modes_[i], i * 2, 0);
        grid->addWidget(edits[i], i * 2 + 1, 0);
        edits[i]->setEnabled(false);
        connect(modes_[i], &QRadioButton::toggled, edits[i], &QWidget::setEnabled);
    }
    auto *bb = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    bb->button(QDialogButtonBox::Ok)->setText(tr("Connect"));
    auto *lay = new QVBoxLayout(this);
    lay->addLayout(grid);
    lay->addWidget(bb);
    connect(bb, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(bb, &QDialogButtonBox::rejected, this, &QDialog::reject);
    modes_[Local]->setChecked(true);
}

ConnectDialog::Mode ConnectDialog::mode() const
{
    for (int i = 0; i < 4; i++)
        if (modes_[i]->isChecked())
            return Mode(i);
    return Local;
}

void ConnectDialog::setMode(Mode m)
{
    modes_[m]->setChecked(true);
}
void ConnectDialog::setLocalDevice(const QString &path)
{
    device_->setText(path);
}
void ConnectDialog::setRemote(const QString &hostPort)
{
    remote_->setText(hostPort);
}

QString ConnectDialog::where() const
{
    switch (mode()) {
    case Local:
        return device_->text().trimmed().isEmpty() ? QStringLiteral("local")
                                                   : device_->text().trimmed();
    case Remote: {
        QString r = remote_->text().trimmed();
        return r.startsWith(QLatin1String("tcp://")) ? r : QStringLiteral("tcp://") + r;
    }
    case Ssh:
        return QStringLiteral("exec:") + ssh_->text().trimmed();
    case DemoVm: {
        // The agent's port is the last number of the demo command.
        const QStringList words = LaunchDialog::splitCommand(demo_->text());
        QString port = QStringLiteral("4711");
        for (const auto &w : words)
            if (w.toInt() > 0)
                port = w;
        return QStringLiteral("tcp://127.0.0.1:") + port;
    }
    }
    return QStringLiteral("local");
}

QString ConnectDialog::demoCommand() const
{
    return mode() == DemoVm ? demo_->text().trimmed() : QString();
}

} // namespace utraceui
