// An append-only vector in fixed-size chunks: appending never moves what is
// stored, so no reallocation copies a large array on the UI thread, and the
// memory held is at most one chunk over the size.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace utraceui {

template <class T, unsigned Shift = 12> class ChunkedVector {
public:
    static constexpr size_t ChunkSize = size_t(1) << Shift;
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    void push_back(const T &v)
    {
        if ((size_ >> Shift) == chunks_.size())
            chunks_.push_back(std::make_unique_for_overwrite<T[]>(ChunkSize));
        (*this)[size_] = v;
        size_++;
    }
    T &operator[](size_t i) { return chunks_[i >> Shift][i & (ChunkSize - 1)]; }
    const T &operator[](size_t i) const { return chunks_[i >> Shift][i & (ChunkSize - 1)]; }
    const T &back() const { return (*this)[size_ - 1]; }
    T &back() { return (*this)[size_ - 1]; }
    void clear()
    {
        chunks_.clear();
        size_ = 0;
    }
    size_t bytesUsed() const
    {
        return chunks_.size() * ChunkSize * sizeof(T) + chunks_.capacity() * sizeof(chunks_[0]);
    }
    // First index whose element is not less than v (by less(elem, v)).
    template <class V, class Less> size_t lowerBound(const V &v, Less less) const
    {
        size_t lo = 0, hi = size_;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (less((*this)[mid], v))
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

private:
    std::vector<std::unique_ptr<T[]>> chunks_;
    size_t size_ = 0;
};

} // namespace utraceui
