// Source view: the file with line numbers, the current line marked (arrow
// and highlight) and breakpoints in the gutter (click to toggle).
#pragma once

#include <QPlainTextEdit>
#include <QSet>

namespace utraceui {

class SourceView : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit SourceView(QWidget *parent = nullptr);
    void setSource(const QString &file, const QString &text);
    const QString &file() const { return file_; }
    void setCurrentLine(int line); // 0: none
    int currentLine() const { return current_; }
    void setBreakpointLines(const QSet<int> &lines);
    const QSet<int> &breakpointLines() const { return breakpoints_; }
    int gutterWidth() const;
    // The line at a gutter y coordinate (for tests and clicks).
    int lineAt(int y) const;
    void clickGutter(int line) { emit gutterClicked(line); }

signals:
    void gutterClicked(int line);

protected:
    void resizeEvent(QResizeEvent *e) override;

private:
    class Gutter;
    friend class Gutter;
    void paintGutter(QPaintEvent *e);
    QWidget *gutter_;
    QString file_;
    int current_ = 0;
    QSet<int> breakpoints_;
};

} // namespace utraceui
