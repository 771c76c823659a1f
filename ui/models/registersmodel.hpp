// The general registers of a stopped thread (x86-64 user_regs_struct), with
// the ones that changed since the last stop highlighted. Editable while the
// thread is stopped: an edit emits registersEdited with the whole set, for
// the controller to write.
#pragma once

#include <QAbstractTableModel>
#include <sys/user.h>

Q_DECLARE_METATYPE(user_regs_struct)

namespace utraceui {

class RegistersModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { NameColumn, ValueColumn, DecimalColumn, ColumnCount };
    enum Role { ChangedRole = Qt::UserRole + 1 };
    static constexpr int RegisterCount = int(sizeof(user_regs_struct) / sizeof(unsigned long long));

    explicit RegistersModel(QObject *parent = nullptr);
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    bool setData(const QModelIndex &index, const QVariant &value, int role = Qt::EditRole) override;

    // The registers at a new stop: values that differ from the previous
    // stop's are marked changed.
    void setRegisters(const user_regs_struct &r);
    // No thread stopped: the view shows nothing.
    void clearRegisters();
    void setEditable(bool editable) { editable_ = editable; }
    bool hasRegisters() const { return valid_; }
    const user_regs_struct &registers() const { return regs_; }
    static const char *registerName(int i);
    // Row of a register by name ("rip"), or -1.
    static int rowOf(const char *name);

signals:
    void registersEdited(const user_regs_struct &r);

private:
    unsigned long long value(const user_regs_struct &r, int i) const;
    user_regs_struct regs_{};
    user_regs_struct prev_{};
    bool valid_ = false;
    bool prevValid_ = false;
    bool editable_ = false;
};

} // namespace utraceui
