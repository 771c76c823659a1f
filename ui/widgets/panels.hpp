// The smaller panels: Processes (attach / launch), Engines (events, stops,
// syscall filter, follow children), Classroom (explanation, presenter
// scale, slow-motion auto-step), and the Connect and Launch dialogs.
#pragma once

#include "controller/engineconfig.hpp"

#include <QDialog>
#include <QWidget>

class QCheckBox;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QRadioButton;
class QSpinBox;
class QTableView;
class QTextBrowser;
class QPushButton;

namespace utraceui {

class ProcessListModel;
class ProcessFilterProxy;

class ProcessesPanel : public QWidget {
    Q_OBJECT
public:
    explicit ProcessesPanel(ProcessListModel *model, QWidget *parent = nullptr);
    QLineEdit *filter() const { return filter_; }
    QTableView *view() const { return view_; }
    int selectedPid() const;

signals:
    void refreshRequested();
    void attachRequested(int pid);
    void launchRequested(const QStringList &argv, const QStringList &env, const QString &cwd);

private:
    ProcessFilterProxy *proxy_;
    QTableView *view_;
    QLineEdit *filter_;
};

class LaunchDialog : public QDialog {
    Q_OBJECT
public:
    explicit LaunchDialog(QWidget *parent = nullptr);
    // The command line split like a shell would (quotes, backslashes).
    QStringList argv() const;
    QStringList env() const;
    QString cwd() const;
    void set(const QStringList &argv, const QStringList &env, const QString &cwd);
    static QStringList splitCommand(const QString &line);

private:
    QLineEdit *command_;
    QPlainTextEdit *env_;
    QLineEdit *cwd_;
};

class EnginesPanel : public QWidget {
    Q_OBJECT
public:
    explicit EnginesPanel(QWidget *parent = nullptr);
    EngineConfig config() const;
    void setConfig(const EngineConfig &c);
    // The explanation shown next to each event checkbox.
    static QString explain(uint64_t bit);
    QLineEdit *syscallSearch() const { return search_; }
    QListWidget *syscallList() const { return syscalls_; }

signals:
    void applyRequested(const utraceui::EngineConfig &c);

private:
    struct Row {
        uint64_t bit;
        QCheckBox *report;
        QCheckBox *stop;
    };
    std::vector<Row> rows_;
    QLineEdit *search_;
    QListWidget *syscalls_;
    QCheckBox *follow_;
    QCheckBox *args_;
};

class ClassroomPanel : public QWidget {
    Q_OBJECT
public:
    explicit ClassroomPanel(QWidget *parent = nullptr);
    void setHtml(const QString &html);
    QString html() const;
    int fontScale() const;
    void setFontScale(int percent);
    int autoStepIntervalMs() const;
    bool autoStepping() const;
    void setAutoStepping(bool on);

signals:
    void fontScaleChanged(int percent);
    void autoStepChanged(bool on, int intervalMs);

private:
    QTextBrowser *text_;
    QSpinBox *scale_;
    QSpinBox *rate_;
    QPushButton *play_;
};

class ConnectDialog : public QDialog {
    Q_OBJECT
public:
    enum Mode { Local, Remote, Ssh, DemoVm };
    explicit ConnectDialog(QWidget *parent = nullptr);
    Mode mode() const;
    void setMode(Mode m);
    // The Session::open address for the choice.
    QString where() const;
    // Demo VM: the command that boots it with the agent listening.
    QString demoCommand() const;
    void setLocalDevice(const QString &path);
    void setRemote(const QString &hostPort);

private:
    QRadioButton *modes_[4];
    QLineEdit *device_;
    QLineEdit *remote_;
    QLineEdit *ssh_;
    QLineEdit *demo_;
};

} // namespace utraceui
