#include "widgets/sourceview.hpp"

#include <QFontDatabase>
#include <QMouseEvent>
#include <QPainter>
#include <QTextBlock>

namespace utraceui {

class SourceView::Gutter : public QWidget {
public:
    explicit Gutter(SourceView *v) : QWidget(v), v_(v) { setCursor(Qt::PointingHandCursor); }
    QSize sizeHint() const override { return {v_->gutterWidth(), 0}; }

protected:
    void paintEvent(QPaintEvent *e) override { v_->paintGutter(e); }
    void mousePressEvent(QMouseEvent *e) override
    {
        if (int line = v_->lineAt(int(e->position().y())); line > 0)
            emit v_->gutterClicked(line);
    }

private:
    SourceView *v_;
};

SourceView::SourceView(QWidget *parent) : QPlainTextEdit(parent), gutter_(new Gutter(this))
{
    setReadOnly(true);
    setLineWrapMode(QPlainTextEdit::NoWrap);
    setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    connect(this, &QPlainTextEdit::blockCountChanged, this,
            [this] { setViewportMargins(gutterWidth(), 0, 0, 0); });
    connect(this, &QPlainTextEdit::updateRequest, this, [this](const QRect &r, int dy) {
        if (dy)
            gutter_->scroll(0, dy);
        else
            gutter_->update(0, r.y(), gutter_->width(), r.height());
    });
    setViewportMargins(gutterWidth(), 0, 0, 0);
}

int SourceView::gutterWidth() const
{
    int digits = 1;
    for (int n = std::max(1, blockCount()); n >= 10; n /= 10)
        digits++;
    return 24 + fontMetrics().horizontalAdvance(QLatin1Char('9')) * (digits + 1);
}

void SourceView::resizeEvent(QResizeEvent *e)
{
    QPlainTextEdit::resizeEvent(e);
    const QRect cr = contentsRect();
    gutter_->setGeometry(QRect(cr.left(), cr.top(), gutterWidth(), cr.height()));
}

void SourceView::setSource(const QString &file, const QString &text)
{
    if (file == file_ && !text.isEmpty() && toPlainText() == text)
        return;
    file_ = file;
    setPlainText(text);
    current_ = 0;
    setExtraSelections({});
}

void SourceView::setCurrentLine(int line)
{
    current_ = line;
    QList<QTextEdit::ExtraSelection> sel;
    if (line > 0 && line <= blockCount()) {
        QTextEdit::ExtraSelection s;
        s.format.setBackground(QColor(255, 236, 160));
        s.format.setForeground(Qt::black);
        s.format.setProperty(QTextFormat::FullWidthSelection, true);
        s.cursor = QTextCursor(document()->findBlockByNumber(line - 1));
        sel << s;
        setTextCursor(s.cursor);
        centerCursor();
    }
    setExtraSelections(sel);
    gutter_->update();
}

void SourceView::setBreakpointLines(const QSet<int> &lines)
{
    breakpoints_ = lines;
    gutter_->update();
}

int SourceView::lineAt(int y) const
{
    QTextBlock b = firstVisibleBlock();
    int top = qRound(blockBoundingGeometry(b).translated(contentOffset()).top());
    while (b.isValid()) {
        const int bottom = top + qRound(blockBoundingRect(b).height());
        if (y >= top && y < bottom)
            return b.blockNumber() + 1;
        top = bottom;
        b = b.next();
    }
    return 0;
}

void SourceView::paintGutter(QPaintEvent *e)
{
    QPainter p(gutter_);
    p.fillRect(e->rect(), palette().window());
    QTextBlock b = firstVisibleBlock();
    int top = qRound(blockBoundingGeometry(b).translated(contentOffset()).top());
    const int h = fontMetrics().height();
    while (b.isValid() && top <= e->rect().bottom()) {
        const int line = b.blockNumber() + 1;
        if (breakpoints_.contains(line)) {
            p.setBrush(QColor(0xd0, 0x30, 0x30));
            p.setPen(Qt::NoPen);
            p.drawEllipse(QRect(3, top + (h - 10) / 2, 10, 10));
        }
        if (line == current_) {
            p.setPen(QColor(0xd3, 0x8b, 0x00));
            p.drawText(QRect(12, top, 12, h), Qt::AlignCenter, QStringLiteral("▶"));
        }
        p.setPen(palette().placeholderText().color());
        p.drawText(QRect(24, top, gutter_->width() - 28, h), Qt::AlignRight, QString::number(line));
        top += qRound(blockBoundingRect(b).height());
        b = b.next();
    }
}

} // namespace utraceui
