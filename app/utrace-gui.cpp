// utrace-gui: the Qt 6 debugger (ui/ holds the models, views and widgets).
//
//   utrace-gui                          the Connect dialog (local, remote, demo VM)
//   utrace-gui --connect local          /dev/utrace on this machine
//   utrace-gui --connect tcp://host:4711 --launch "/usr/bin/ls -l"
//   utrace-gui --demo "tools/demo --agent 4711"
//   utrace-gui --session s.json | --open-log events.jsonl | --classroom
#include "widgets/eventlogpanel.hpp"
#include "widgets/mainwindow.hpp"
#include "widgets/panels.hpp"

#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QTimer>

int main(int argc, char **argv)
{
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("utrace"));
    QApplication::setApplicationName(QStringLiteral("utrace-gui"));
    QApplication::setApplicationVersion(QStringLiteral("0.1.0"));
    QApplication::setDesktopFileName(QStringLiteral("utrace-gui"));

    QCommandLineParser p;
    p.setApplicationDescription(QStringLiteral("utrace: watch and control every thread's events"));
    p.addHelpOption();
    p.addVersionOption();
    QCommandLineOption connectOpt(QStringLiteral("connect"),
                                  QStringLiteral("Connect at start: local, /dev/utrace, "
                                                 "tcp://HOST:PORT or exec:COMMAND."),
                                  QStringLiteral("where"));
    QCommandLineOption demoOpt(QStringLiteral("demo"),
                               QStringLiteral("Boot the demo VM with COMMAND (its agent on "
                                              "127.0.0.1:PORT, the last number of COMMAND)."),
                               QStringLiteral("command"));
    QCommandLineOption launchOpt(QStringLiteral("launch"),
                                 QStringLiteral("Once connected, launch this command held at its "
                                                "first instruction."),
                                 QStringLiteral("command"));
    QCommandLineOption attachOpt(QStringLiteral("attach"),
                                 QStringLiteral("Once connected, attach to this process."),
                                 QStringLiteral("pid"));
    QCommandLineOption sessionOpt(QStringLiteral("session"),
                                  QStringLiteral("Restore a saved session (JSON)."),
                                  QStringLiteral("file"));
    QCommandLineOption logOpt(QStringLiteral("open-log"),
                              QStringLiteral("Open a JSON lines event log, offline."),
                              QStringLiteral("file"));
    QCommandLineOption classroomOpt(QStringLiteral("classroom"),
                                    QStringLiteral("Start in classroom mode."));
    p.addOptions({connectOpt, demoOpt, launchOpt, attachOpt, sessionOpt, logOpt, classroomOpt});
    p.process(app);

    utraceui::MainWindow w;
    w.show();
    if (p.isSet(classroomOpt))
        w.setClassroomMode(true);
    if (p.isSet(logOpt))
        w.eventLogPanel()->openFrom(p.value(logOpt));
    if (p.isSet(launchOpt) || p.isSet(attachOpt)) {
        QObject::connect(
            w.controller(), &utraceui::Controller::connected, &w,
            [&w, &p, &launchOpt, &attachOpt] {
                if (p.isSet(launchOpt))
                    w.controller()->launch(utraceui::LaunchDialog::splitCommand(p.value(launchOpt)),
                                           {}, {}, w.engines()->config());
                if (p.isSet(attachOpt))
                    w.controller()->attach(p.value(attachOpt).toInt(), w.engines()->config());
            },
            Qt::SingleShotConnection);
    }
    if (p.isSet(sessionOpt)) {
        w.loadSessionFrom(p.value(sessionOpt));
    } else if (p.isSet(demoOpt)) {
        const QString cmd = p.value(demoOpt);
        QString port = QStringLiteral("4711");
        for (const auto &word : utraceui::LaunchDialog::splitCommand(cmd))
            if (word.toInt() > 0)
                port = word;
        w.startDemoVm(cmd, QStringLiteral("tcp://127.0.0.1:") + port);
    } else if (p.isSet(connectOpt)) {
        w.connectTo(p.value(connectOpt));
    } else if (!p.isSet(logOpt)) {
        // Local first when the module is loaded here; else ask.
        if (QFileInfo::exists(QStringLiteral("/dev/utrace")))
            w.connectTo(QStringLiteral("local"));
        else
            QTimer::singleShot(0, &w, [&w] { w.showConnectDialog(); });
    }
    return app.exec();
}
