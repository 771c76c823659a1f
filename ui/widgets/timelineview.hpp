// The timeline, custom painted: a lane per thread (running / in a syscall /
// stopped), event markers, zoom (Ctrl+wheel, +/-), scroll (wheel, Shift+wheel,
// drag), click on a marker -> eventClicked(row of the event log).
#pragma once

#include <QWidget>

namespace utraceui {

class TimelineModel;

class TimelineView : public QWidget {
    Q_OBJECT
public:
    explicit TimelineView(QWidget *parent = nullptr);
    void setModel(TimelineModel *m);
    TimelineModel *model() const { return model_; }

    // The visible time range: [start, start + width * nsPerPixel).
    uint64_t viewStart() const { return start_; }
    double nsPerPixel() const { return nsPerPixel_; }
    void setRange(uint64_t start, double nsPerPixel);
    // Follow: the right edge stays at the newest event.
    void setFollow(bool on);
    bool follow() const { return follow_; }
    // The event a click at this point would select, or -1.
    int64_t eventAt(const QPoint &p) const;
    QPoint pointOf(int lane, uint64_t timeNs) const;
    void selectEvent(int64_t row, int lane, uint64_t timeNs);

    static constexpr int LabelWidth = 96;
    static constexpr int LaneHeight = 22;
    static constexpr int AxisHeight = 18;

public slots:
    void zoomIn();
    void zoomOut();
    void fit();

signals:
    void eventClicked(qint64 row);
    void rangeChanged();

protected:
    void paintEvent(QPaintEvent *) override;
    void wheelEvent(QWheelEvent *e) override;
    void mousePressEvent(QMouseEvent *e) override;
    void mouseMoveEvent(QMouseEvent *e) override;
    void keyPressEvent(QKeyEvent *e) override;
    void resizeEvent(QResizeEvent *e) override;
    QSize sizeHint() const override { return {600, 160}; }

private:
    void zoomAt(double factor, int x);
    void modelChanged();
    int plotWidth() const { return std::max(1, width() - LabelWidth); }

    TimelineModel *model_ = nullptr;
    uint64_t start_ = 0;
    double nsPerPixel_ = 1000.0;
    int firstLane_ = 0;
    bool follow_ = true;
    QPoint dragFrom_;
    uint64_t dragStart_ = 0;
    int64_t selectedRow_ = -1;
    int selectedLane_ = -1;
    uint64_t selectedTime_ = 0;
};

} // namespace utraceui
