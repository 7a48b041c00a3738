#pragma once

/// @file
/// A bridge's fire-and-forget calls (`cast`), counted by outcome; the figures are declared once
/// (ops_stats.hpp). Plain value, copied out of the bridge; any thread may read a copy.

#include <cstdint>

#include "mlbridge/ops/ops_stats.hpp"

namespace mlbridge::ops {

/// Fire-and-forget figures, in the order `/metrics` lists their samples: members of CastStats,
/// keys of `"casts"` in `Bridge::describe()` and the `outcome` of `mlbridge_casts_total`.
#define MLBRIDGE_CAST_STATS(COUNTER, GAUGE)                              \
  COUNTER(sent, "sent", "mlbridge_casts_total", "outcome", "sent",       \
          "Fire-and-forget calls by outcome (sent, failed).")            \
  COUNTER(failed, "failed", "mlbridge_casts_total", "outcome", "failed", \
          "Fire-and-forget calls by outcome (sent, failed).")

/// Fire-and-forget calls sent, and of those the ones that failed (each logged).
struct CastStats {
  MLBRIDGE_GENERATE_OPS_STAT_MEMBERS(MLBRIDGE_CAST_STATS)
};

/// The declarations of MLBRIDGE_CAST_STATS, in list order.
inline constexpr OpsStatSpec kCastStatSpecs[] =
    MLBRIDGE_GENERATE_OPS_STAT_SPECS(MLBRIDGE_CAST_STATS);

/// Calls visit(const OpsStatSpec&, value) for each figure of `stats`, in list order.
template <typename Visit>
void visit_stats(const CastStats& stats, Visit&& visit) {
  MLBRIDGE_GENERATE_OPS_STAT_VISIT(MLBRIDGE_CAST_STATS, kCastStatSpecs);
}

}  // namespace mlbridge::ops
