#include "models/disassemblymodel.hpp"

#include <QColor>
#include <QFont>
#include <algorithm>
#include <capstone/capstone.h>

namespace utraceui {

DisassemblyModel::DisassemblyModel(QObject *parent) : QAbstractTableModel(parent) {}

int DisassemblyModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(lines_.size());
}

int DisassemblyModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant DisassemblyModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(lines_.size()))
        return {};
    const Line &l = lines_[size_t(index.row())];
    switch (role) {
    case AddressRole:
        return qulonglong(l.address);
    case IsPcRole:
        return l.address == pc_;
    case HasBreakpointRole:
        return breakpoints_.contains(l.address);
    case Qt::BackgroundRole:
        if (l.address == pc_)
            return QColor(255, 236, 160);
        return {};
    case Qt::ForegroundRole:
        if (l.address == pc_)
            return QColor(Qt::black);
        return {};
    case Qt::DecorationRole:
        if (index.column() == AddressColumn && breakpoints_.contains(l.address))
            return QColor(Qt::red);
        return {};
    case Qt::DisplayRole:
        switch (index.column()) {
        case AddressColumn:
            return (l.address == pc_ ? QStringLiteral("→ ") : QStringLiteral("  ")) +
                   QStringLiteral("%1").arg(l.address, 12, 16, QLatin1Char('0')) +
                   (l.label.isEmpty() ? QString() : QStringLiteral(" <%1>").arg(l.label));
        case BytesColumn:
            return l.bytes;
        case InstructionColumn:
            return l.text;
        }
    }
    return {};
}

QVariant DisassemblyModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case AddressColumn:
        return tr("Address");
    case BytesColumn:
        return tr("Bytes");
    case InstructionColumn:
        return tr("Instruction");
    }
    return {};
}

bool DisassemblyModel::setCode(uint64_t address, const QByteArray &code, uint64_t pc,
                               const SymbolFn &symbol)
{
    beginResetModel();
    lines_.clear();
    pc_ = pc;
    csh h;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK) {
        endResetModel();
        return false;
    }
    cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
    cs_insn *insn = cs_malloc(h);
    const uint8_t *p = reinterpret_cast<const uint8_t *>(code.constData());
    size_t left = size_t(code.size());
    uint64_t a = address;
    while (left > 0) {
        if (!cs_disasm_iter(h, &p, &left, &a, insn)) {
            // Not an instruction: show the byte and go on, so the PC's
            // instruction is found again after a bad start.
            lines_.push_back({a, QStringLiteral("%1").arg(*p, 2, 16, QLatin1Char('0')),
                              QStringLiteral("(bad)"), QString()});
            p++;
            left--;
            a++;
            continue;
        }
        Line l;
        l.address = insn->address;
        for (uint16_t i = 0; i < insn->size; i++)
            l.bytes += QStringLiteral("%1 ").arg(insn->bytes[i], 2, 16, QLatin1Char('0'));
        l.bytes = l.bytes.trimmed();
        l.text = QString::fromLatin1(insn->mnemonic) + QLatin1Char(' ') +
                 QString::fromLatin1(insn->op_str);
        if (symbol) {
            QString s = symbol(insn->address);
            if (!s.isEmpty() && !s.contains(QLatin1Char('+')))
                l.label = s;
            // Name the target of direct calls and jumps.
            const cs_x86 &x = insn->detail->x86;
            const bool branch =
                cs_insn_group(h, insn, CS_GRP_CALL) || cs_insn_group(h, insn, CS_GRP_JUMP);
            if (branch && x.op_count == 1 && x.operands[0].type == X86_OP_IMM) {
                QString t = symbol(uint64_t(x.operands[0].imm));
                if (!t.isEmpty())
                    l.text += QStringLiteral(" <%1>").arg(t);
            }
        }
        lines_.push_back(std::move(l));
    }
    cs_free(insn, 1);
    cs_close(&h);
    endResetModel();
    return true;
}

std::vector<uint64_t> DisassemblyModel::branchTargets(uint64_t address, const QByteArray &code)
{
    std::vector<uint64_t> out;
    csh h;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
        return out;
    cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
    cs_insn *insn = cs_malloc(h);
    const uint8_t *p = reinterpret_cast<const uint8_t *>(code.constData());
    size_t left = size_t(code.size());
    uint64_t a = address;
    while (left > 0) {
        if (!cs_disasm_iter(h, &p, &left, &a, insn)) {
            p++;
            left--;
            a++;
            continue;
        }
        const cs_x86 &x = insn->detail->x86;
        if ((cs_insn_group(h, insn, CS_GRP_CALL) || cs_insn_group(h, insn, CS_GRP_JUMP)) &&
            x.op_count == 1 && x.operands[0].type == X86_OP_IMM)
            out.push_back(uint64_t(x.operands[0].imm));
    }
    cs_free(insn, 1);
    cs_close(&h);
    return out;
}

void DisassemblyModel::setBreakpoints(const QSet<uint64_t> &addresses)
{
    breakpoints_ = addresses;
    if (!lines_.empty())
        emit dataChanged(index(0, 0), index(int(lines_.size()) - 1, ColumnCount - 1));
}

int DisassemblyModel::rowOfAddress(uint64_t address) const
{
    auto it = std::lower_bound(lines_.begin(), lines_.end(), address,
                               [](const Line &l, uint64_t a) { return l.address < a; });
    return it != lines_.end() && it->address == address ? int(it - lines_.begin()) : -1;
}

} // namespace utraceui
