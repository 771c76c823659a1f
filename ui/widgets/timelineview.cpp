#include "widgets/timelineview.hpp"

#include "models/eventtext.hpp"
#include "models/timelinemodel.hpp"

#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>
#include <cmath>

namespace utraceui {

namespace {
QColor stateColor(LaneState s)
{
    switch (s) {
    case LaneState::Running:
        return QColor(0x7b, 0xc8, 0x8a);
    case LaneState::InSyscall:
        return QColor(0x6c, 0xa6, 0xe0);
    case LaneState::Stopped:
        return QColor(0xf2, 0xb0, 0x4e);
    case LaneState::Exited:
        return QColor(0xb0, 0xb0, 0xb0);
    }
    return Qt::gray;
}

QString formatNs(double ns)
{
    if (ns >= 1e9)
        return QStringLiteral("%1 s").arg(ns / 1e9, 0, 'f', 3);
    if (ns >= 1e6)
        return QStringLiteral("%1 ms").arg(ns / 1e6, 0, 'f', 3);
    if (ns >= 1e3)
        return QStringLiteral("%1 µs").arg(ns / 1e3, 0, 'f', 1);
    return QStringLiteral("%1 ns").arg(ns, 0, 'f', 0);
}
} // namespace

TimelineView::TimelineView(QWidget *parent) : QWidget(parent)
{
    setFocusPolicy(Qt::StrongFocus);
    setMouseTracking(false);
    setAttribute(Qt::WA_OpaquePaintEvent);
    setToolTip(tr("A lane per thread: green running, blue in a syscall, orange stopped.\n"
                  "Ctrl+wheel or +/- zooms, wheel scrolls lanes, Shift+wheel or drag scrolls "
                  "time; click a marker to see its event."));
}

void TimelineView::setModel(TimelineModel *m)
{
    if (model_)
        disconnect(model_, nullptr, this, nullptr);
    model_ = m;
    if (m) {
        connect(m, &QAbstractItemModel::rowsInserted, this, &TimelineView::modelChanged);
        connect(m, &QAbstractItemModel::dataChanged, this, &TimelineView::modelChanged);
        connect(m, &QAbstractItemModel::modelReset, this, [this] {
            firstLane_ = 0;
            selectedRow_ = -1;
            fit();
        });
    }
    fit();
}

void TimelineView::modelChanged()
{
    if (follow_ && model_) {
        const double span = nsPerPixel_ * plotWidth();
        // The newest event at 90% of the width: the states in force now
        // show to its right.
        const uint64_t end = model_->endTime();
        start_ = end > uint64_t(span * 0.9) ? end - uint64_t(span * 0.9) : 0;
        start_ = std::max(start_, model_->startTime());
    }
    update(); // coalesced: one paint per event-loop pass, whatever the batch count
}

void TimelineView::setRange(uint64_t start, double nsPerPixel)
{
    start_ = start;
    nsPerPixel_ = std::clamp(nsPerPixel, 0.01, 1e12);
    emit rangeChanged();
    update();
}

void TimelineView::setFollow(bool on)
{
    follow_ = on;
    modelChanged();
}

void TimelineView::fit()
{
    if (!model_ || model_->endTime() <= model_->startTime()) {
        setRange(model_ ? model_->startTime() : 0, 1000.0);
        return;
    }
    const double span = double(model_->endTime() - model_->startTime());
    setRange(model_->startTime(), std::max(span * 1.02 / plotWidth(), 0.01));
}

void TimelineView::zoomAt(double factor, int x)
{
    const double px = std::clamp(x - LabelWidth, 0, plotWidth());
    const double anchor = double(start_) + px * nsPerPixel_;
    const double npp = std::clamp(nsPerPixel_ * factor, 0.01, 1e12);
    const double s = anchor - px * npp;
    follow_ = factor > 1 && follow_;
    setRange(s > 0 ? uint64_t(s) : 0, npp);
}

void TimelineView::zoomIn()
{
    zoomAt(0.5, LabelWidth + plotWidth() / 2);
}
void TimelineView::zoomOut()
{
    zoomAt(2.0, LabelWidth + plotWidth() / 2);
}

void TimelineView::resizeEvent(QResizeEvent *)
{
    modelChanged();
}

void TimelineView::wheelEvent(QWheelEvent *e)
{
    const int dy = e->angleDelta().y();
    if (e->modifiers() & Qt::ControlModifier) {
        zoomAt(dy > 0 ? 0.8 : 1.25, int(e->position().x()));
    } else if (e->modifiers() & Qt::ShiftModifier) {
        const double shift = -dy / 120.0 * 50 * nsPerPixel_;
        follow_ = false;
        setRange(uint64_t(std::max(0.0, double(start_) + shift)), nsPerPixel_);
    } else if (model_) {
        firstLane_ = std::clamp(firstLane_ - dy / 120, 0, std::max(0, model_->laneCount() - 1));
        update();
    }
    e->accept();
}

int64_t TimelineView::eventAt(const QPoint &p) const
{
    if (!model_ || p.x() < LabelWidth || p.y() < AxisHeight)
        return -1;
    const int lane = firstLane_ + (p.y() - AxisHeight) / LaneHeight;
    if (lane >= model_->laneCount())
        return -1;
    const double t = double(start_) + (p.x() - LabelWidth) * nsPerPixel_;
    return model_->markerNear(lane, uint64_t(std::max(0.0, t)), uint64_t(4 * nsPerPixel_) + 1);
}

QPoint TimelineView::pointOf(int lane, uint64_t timeNs) const
{
    return {LabelWidth + int((double(timeNs) - double(start_)) / nsPerPixel_),
            AxisHeight + (lane - firstLane_) * LaneHeight + LaneHeight / 2};
}

void TimelineView::selectEvent(int64_t row, int lane, uint64_t timeNs)
{
    selectedRow_ = row;
    selectedLane_ = lane;
    selectedTime_ = timeNs;
    // Bring it into view when it is outside.
    const double span = nsPerPixel_ * plotWidth();
    if (double(timeNs) < double(start_) || double(timeNs) > double(start_) + span) {
        follow_ = false;
        setRange(timeNs > uint64_t(span / 2) ? timeNs - uint64_t(span / 2) : 0, nsPerPixel_);
    }
    if (lane >= 0 &&
        (lane < firstLane_ || lane >= firstLane_ + (height() - AxisHeight) / LaneHeight))
        firstLane_ = lane;
    update();
}

void TimelineView::mousePressEvent(QMouseEvent *e)
{
    dragFrom_ = e->pos();
    dragStart_ = start_;
    const int64_t row = eventAt(e->pos());
    if (row >= 0) {
        selectedRow_ = row;
        update();
        emit eventClicked(row);
    }
}

void TimelineView::mouseMoveEvent(QMouseEvent *e)
{
    if (!(e->buttons() & Qt::LeftButton))
        return;
    const double shift = -(e->pos().x() - dragFrom_.x()) * nsPerPixel_;
    follow_ = false;
    setRange(uint64_t(std::max(0.0, double(dragStart_) + shift)), nsPerPixel_);
}

void TimelineView::keyPressEvent(QKeyEvent *e)
{
    switch (e->key()) {
    case Qt::Key_Plus:
    case Qt::Key_Equal:
        zoomIn();
        break;
    case Qt::Key_Minus:
        zoomOut();
        break;
    case Qt::Key_0:
        fit();
        break;
    case Qt::Key_End:
        setFollow(true);
        break;
    default:
        QWidget::keyPressEvent(e);
    }
}

void TimelineView::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.fillRect(rect(), palette().base());
    const int w = plotWidth();
    const uint64_t t0 = start_;
    const uint64_t t1 = start_ + uint64_t(nsPerPixel_ * w);
    const uint64_t bucket = uint64_t(std::max(1.0, nsPerPixel_));
    auto xOf = [&](uint64_t t) { return LabelWidth + int((double(t) - double(t0)) / nsPerPixel_); };

    // Time axis: ticks at a round step, labelled from the first event.
    p.setPen(palette().text().color());
    const double span = nsPerPixel_ * w;
    double step = std::pow(10.0, std::floor(std::log10(std::max(span / 6, 1.0))));
    if (span / step > 12)
        step *= 5;
    else if (span / step > 6)
        step *= 2;
    const uint64_t origin = model_ ? model_->startTime() : 0;
    const double firstTick = std::ceil((double(t0) - double(origin)) / step) * step;
    for (double rel = firstTick; rel < double(t1) - double(origin); rel += step) {
        const int x = xOf(uint64_t(double(origin) + rel));
        p.drawLine(x, AxisHeight - 4, x, AxisHeight);
        p.drawText(x + 2, AxisHeight - 5, formatNs(rel));
    }
    p.drawLine(LabelWidth, AxisHeight, width(), AxisHeight);
    if (!model_)
        return;

    const int visible = (height() - AxisHeight) / LaneHeight + 1;
    for (int lane = firstLane_; lane < model_->laneCount() && lane < firstLane_ + visible; lane++) {
        const int y = AxisHeight + (lane - firstLane_) * LaneHeight;
        p.setPen(palette().text().color());
        p.drawText(QRect(4, y, LabelWidth - 8, LaneHeight), Qt::AlignVCenter | Qt::AlignLeft,
                   QStringLiteral("%1").arg(model_->laneTid(lane)));
        model_->intervals(lane, t0, t1, bucket, [&](const TimelineModel::Interval &iv) {
            const int x0 = xOf(iv.start), x1 = std::max(xOf(iv.end), x0 + 1);
            QColor c = stateColor(iv.state);
            if (iv.mixed)
                c = c.lighter(115);
            p.fillRect(QRect(x0, y + 4, x1 - x0, LaneHeight - 8), c);
        });
        model_->markers(lane, t0, t1, bucket, [&](const TimelineModel::Marker &m) {
            const int x = xOf(m.time);
            p.setPen(kindColor(m.kind));
            p.drawLine(x, y + 1, x, y + LaneHeight - 2);
        });
        if (lane == selectedLane_ && selectedRow_ >= 0) {
            const int x = xOf(selectedTime_);
            p.setPen(QPen(palette().highlight().color(), 2));
            p.drawRect(x - 3, y + 1, 6, LaneHeight - 2);
        }
    }
    p.setPen(palette().mid().color());
    p.drawLine(LabelWidth - 1, 0, LabelWidth - 1, height());
}

} // namespace utraceui
