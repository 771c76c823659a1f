// Memory as hex + ASCII, 16 bytes a row. Bytes that changed since the
// previous read of the same range are highlighted; a hex cell is editable
// while the thread is stopped and emits memoryEdited for the controller.
#pragma once

#include <QAbstractTableModel>
#include <QByteArray>

namespace utraceui {

class MemoryModel : public QAbstractTableModel {
    Q_OBJECT
public:
    static constexpr int BytesPerRow = 16;
    enum Column { AddressColumn = 0, FirstByteColumn = 1, AsciiColumn = 1 + BytesPerRow };
    enum Role { AddressRole = Qt::UserRole + 1, ChangedRole };

    explicit MemoryModel(QObject *parent = nullptr);
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    bool setData(const QModelIndex &index, const QVariant &value, int role = Qt::EditRole) override;

    // bytes were read at address (fewer than asked at an unmapped page:
    // size is how many were asked; the rest shows as "??").
    void setMemory(uint64_t address, const QByteArray &bytes, int size);
    void setEditable(bool e) { editable_ = e; }
    uint64_t address() const { return addr_; }
    int size() const { return size_; }
    const QByteArray &bytes() const { return bytes_; }

signals:
    void memoryEdited(uint64_t address, const QByteArray &bytes);

private:
    int offsetOf(const QModelIndex &index) const;
    uint64_t addr_ = 0;
    int size_ = 0;
    QByteArray bytes_;
    QByteArray prev_;
    uint64_t prevAddr_ = 0;
    bool editable_ = false;
};

} // namespace utraceui
