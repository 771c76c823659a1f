#include "widgets/eventlogpanel.hpp"

#include "models/eventlogmodel.hpp"

#include <QCheckBox>
#include <QFile>
#include <QFileDialog>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QRegularExpression>
#include <QScrollBar>
#include <QTableView>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

namespace utraceui {

EventLogPanel::EventLogPanel(EventLogModel *model, QWidget *parent)
    : QWidget(parent), model_(model), proxy_(new EventFilterProxy(this)), view_(new QTableView),
      filter_(new QLineEdit), tids_(new QLineEdit), search_(new QLineEdit),
      follow_(new QCheckBox(tr("Follow"))), kinds_(new QToolButton), count_(new QLabel)
{
    // Unfiltered, the view shows the model itself: a filter proxy over a
    // million rows costs a mapping entry per row and work on every batch, so
    // it is only put in between while a filter is set.
    view_->setModel(model);
    view_->setObjectName(QStringLiteral("eventLogView"));
    // Fixed row heights and no content-sized columns: the view touches only
    // the rows on screen, whatever the row count.
    view_->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    view_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 4);
    view_->verticalHeader()->hide();
    view_->horizontalHeader()->setStretchLastSection(true);
    view_->setSelectionBehavior(QAbstractItemView::SelectRows);
    view_->setSelectionMode(QAbstractItemView::SingleSelection);
    view_->setWordWrap(false);
    view_->setColumnWidth(EventLogModel::SeqColumn, 70);
    view_->setColumnWidth(EventLogModel::TimeColumn, 90);
    view_->setColumnWidth(EventLogModel::TidColumn, 60);
    view_->setColumnWidth(EventLogModel::KindColumn, 110);

    filter_->setPlaceholderText(tr("Filter text"));
    filter_->setClearButtonEnabled(true);
    tids_->setPlaceholderText(tr("Threads: 123 456"));
    tids_->setMaximumWidth(130);
    search_->setPlaceholderText(tr("Search (Enter: next, Shift+Enter: previous)"));
    search_->setClearButtonEnabled(true);
    follow_->setChecked(true);
    follow_->setToolTip(tr("Keep the newest event in view; untick to read while events arrive"));

    kinds_->setText(tr("Kinds"));
    kinds_->setPopupMode(QToolButton::InstantPopup);
    auto *menu = new QMenu(kinds_);
    for (int k = 0; k < KindCount; k++) {
        QAction *a = menu->addAction(QString::fromLatin1(kindName(Kind(k))));
        a->setCheckable(true);
        a->setChecked(true);
        a->setData(k);
        connect(a, &QAction::toggled, this, &EventLogPanel::applyFilter);
    }
    kinds_->setMenu(menu);

    auto *prev = new QToolButton;
    prev->setText(QStringLiteral("▲"));
    prev->setToolTip(tr("Previous match"));
    auto *next = new QToolButton;
    next->setText(QStringLiteral("▼"));
    next->setToolTip(tr("Next match"));

    auto *bar = new QHBoxLayout;
    bar->setContentsMargins(0, 0, 0, 0);
    bar->addWidget(kinds_);
    bar->addWidget(tids_);
    bar->addWidget(filter_, 1);
    bar->addWidget(search_, 1);
    bar->addWidget(prev);
    bar->addWidget(next);
    bar->addWidget(follow_);
    bar->addWidget(count_);
    auto *lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    lay->addLayout(bar);
    lay->addWidget(view_);

    // Text filtering renders rows: wait for the typing to pause.
    auto *filterDelay = new QTimer(this);
    filterDelay->setSingleShot(true);
    filterDelay->setInterval(250);
    connect(filterDelay, &QTimer::timeout, this, &EventLogPanel::applyFilter);
    connect(filter_, &QLineEdit::textChanged, filterDelay, qOverload<>(&QTimer::start));
    connect(tids_, &QLineEdit::textChanged, filterDelay, qOverload<>(&QTimer::start));
    connect(search_, &QLineEdit::returnPressed, this,
            [this] { findNext(QGuiApplication::keyboardModifiers() & Qt::ShiftModifier); });
    connect(next, &QToolButton::clicked, this, [this] { findNext(false); });
    connect(prev, &QToolButton::clicked, this, [this] { findNext(true); });
    connect(follow_, &QCheckBox::toggled, this, [this](bool on) {
        if (on)
            view_->scrollToBottom();
    });
    // Follow: after each batch, the newest row in view. Reading (the
    // scrollbar moved up by the user) pauses following.
    connect(model_, &QAbstractItemModel::rowsInserted, this, [this] {
        if (follow_->isChecked())
            view_->scrollToBottom();
    });
    auto updateCount = [this] {
        count_->setText(view_->model() == proxy_
                            ? tr("%1 of %2").arg(proxy_->rowCount()).arg(model_->rowCount())
                            : tr("%1 events").arg(model_->rowCount()));
    };
    auto *countTimer = new QTimer(this);
    countTimer->setInterval(200);
    connect(countTimer, &QTimer::timeout, this, updateCount);
    countTimer->start();
    connect(view_->verticalScrollBar(), &QScrollBar::actionTriggered, this, [this](int action) {
        if (action == QAbstractSlider::SliderMove || action == QAbstractSlider::SliderPageStepSub ||
            action == QAbstractSlider::SliderSingleStepSub)
            follow_->setChecked(false);
    });
    watchSelection();
}

void EventLogPanel::watchSelection()
{
    connect(view_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &cur) {
                if (!cur.isValid())
                    return;
                selected_ = toSource(cur).row();
                emit eventSelected(selected_);
            });
}

QModelIndex EventLogPanel::toSource(const QModelIndex &viewIndex) const
{
    return view_->model() == proxy_ ? proxy_->mapToSource(viewIndex) : viewIndex;
}

QModelIndex EventLogPanel::fromSource(int sourceRow) const
{
    const QModelIndex s = model_->index(sourceRow, 0);
    return view_->model() == proxy_ ? proxy_->mapFromSource(s) : s;
}

bool EventLogPanel::filtering() const
{
    return view_->model() == proxy_;
}

bool EventLogPanel::following() const
{
    return follow_->isChecked();
}
void EventLogPanel::setFollowing(bool on)
{
    follow_->setChecked(on);
}

void EventLogPanel::applyFilter()
{
    uint32_t mask = 0;
    for (QAction *a : kinds_->menu()->actions())
        if (a->isChecked())
            mask |= 1u << a->data().toInt();
    QSet<int> tids;
    for (const auto &t :
         tids_->text().split(QRegularExpression(QStringLiteral("[ ,]+")), Qt::SkipEmptyParts))
        if (int v = t.toInt())
            tids.insert(v);
    // The selected event stays selected across filters that hide it.
    const int keep = selected_;
    proxy_->setKindMask(mask);
    proxy_->setTids(tids);
    proxy_->setText(filter_->text());
    const bool filtering = proxy_->isFiltering();
    if (filtering && view_->model() != proxy_) {
        proxy_->setSourceModel(model_);
        view_->setModel(proxy_);
        watchSelection();
    } else if (!filtering && view_->model() == proxy_) {
        view_->setModel(model_);
        proxy_->setSourceModel(nullptr);
        watchSelection();
    }
    if (keep >= 0) {
        const QModelIndex i = fromSource(keep);
        if (i.isValid())
            view_->setCurrentIndex(i);
    }
    if (follow_->isChecked())
        view_->scrollToBottom();
}

int EventLogPanel::currentRow() const
{
    const QModelIndex cur = view_->currentIndex();
    return cur.isValid() ? toSource(cur).row() : -1;
}

void EventLogPanel::showRow(int sourceRow)
{
    QModelIndex p = fromSource(sourceRow);
    if (!p.isValid()) {
        filter_->clear();
        tids_->clear();
        for (QAction *a : kinds_->menu()->actions())
            a->setChecked(true);
        applyFilter();
        p = fromSource(sourceRow);
    }
    follow_->setChecked(false);
    view_->setCurrentIndex(p);
    view_->scrollTo(p, QAbstractItemView::PositionAtCenter);
}

bool EventLogPanel::findNext(bool backward)
{
    const QString text = search_->text();
    if (text.isEmpty())
        return false;
    const int from = currentRow() >= 0 ? currentRow() : (backward ? 0 : -1);
    const int row = model_->findNext(text, from, backward);
    if (row < 0) {
        emit message(tr("\"%1\" is not in the event log.").arg(text));
        return false;
    }
    showRow(row);
    return true;
}

bool EventLogPanel::exportTo(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        emit message(tr("Cannot write %1 (%2); choose another place.").arg(path, f.errorString()));
        return false;
    }
    QString error;
    if (!model_->exportJsonLines(f, &error)) {
        emit message(error);
        return false;
    }
    emit message(tr("Saved %1 events to %2.").arg(model_->rowCount()).arg(path));
    return true;
}

bool EventLogPanel::openFrom(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        emit message(tr("Cannot open %1 (%2).").arg(path, f.errorString()));
        return false;
    }
    QString error;
    const bool ok = model_->loadJsonLines(f, &error);
    emit message(ok ? tr("Opened %1 events from %2.").arg(model_->rowCount()).arg(path) : error);
    return ok;
}

} // namespace utraceui
