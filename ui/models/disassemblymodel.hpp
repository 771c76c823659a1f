// Disassembly around the PC with Capstone (x86-64, AT&T-free Intel syntax),
// with symbols for function starts and call/jump targets.
#pragma once

#include <QAbstractTableModel>
#include <QSet>
#include <functional>
#include <vector>

namespace utraceui {

class DisassemblyModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { AddressColumn, BytesColumn, InstructionColumn, ColumnCount };
    enum Role { AddressRole = Qt::UserRole + 1, IsPcRole, HasBreakpointRole };

    // address -> "main+0x12", or empty when unknown.
    using SymbolFn = std::function<QString(uint64_t)>;

    explicit DisassemblyModel(QObject *parent = nullptr);
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

    // Decodes code read at address; pc is marked. Returns false (and shows
    // nothing) when Capstone cannot be opened.
    bool setCode(uint64_t address, const QByteArray &code, uint64_t pc,
                 const SymbolFn &symbol = {});
    void setBreakpoints(const QSet<uint64_t> &addresses);
    // Targets of direct calls and jumps in code (to look their symbols up).
    static std::vector<uint64_t> branchTargets(uint64_t address, const QByteArray &code);
    int rowOfAddress(uint64_t address) const;
    int pcRow() const { return rowOfAddress(pc_); }

private:
    struct Line {
        uint64_t address;
        QString bytes;
        QString text;
        QString label; // the symbol when a function starts here
    };
    std::vector<Line> lines_;
    uint64_t pc_ = 0;
    QSet<uint64_t> breakpoints_;
};

} // namespace utraceui
