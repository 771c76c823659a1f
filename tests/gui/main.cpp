// GuiModels: the GUI's models under QAbstractItemModelTester, and its
// widgets on the offscreen platform.
#include "gui_test_util.hpp"

#include <QApplication>
#include <QLoggingCategory>
#include <QStandardPaths>
#include <cstring>

namespace {
QtMessageHandler previous = nullptr;

void handler(QtMsgType type, const QMessageLogContext &ctx, const QString &msg)
{
    // The model tester reports a broken model contract as a warning in the
    // qt.modeltest category: make it a test failure.
    if (ctx.category && !std::strcmp(ctx.category, "qt.modeltest") && type >= QtWarningMsg)
        ADD_FAILURE() << "QAbstractItemModelTester: " << msg.toStdString();
    if (previous)
        previous(type, ctx, msg);
}
} // namespace

std::unique_ptr<QAbstractItemModelTester> guitest::tester(QAbstractItemModel *m)
{
    return std::make_unique<QAbstractItemModelTester>(
        m, QAbstractItemModelTester::FailureReportingMode::Warning);
}

int main(int argc, char **argv)
{
    qputenv("QT_QPA_PLATFORM", "offscreen");
    // QSettings and friends in a test location, not the user's.
    QStandardPaths::setTestModeEnabled(true);
    testing::InitGoogleTest(&argc, argv);
    QApplication app(argc, argv);
    app.setOrganizationName(QStringLiteral("utrace-tests"));
    app.setApplicationName(QStringLiteral("GuiModels"));
    QLoggingCategory::setFilterRules(QStringLiteral("qt.modeltest.debug=false"));
    previous = qInstallMessageHandler(handler);
    return RUN_ALL_TESTS();
}
