// Who MiningCore's own payer would pay. PayoutManager credits and pays in one loop for every pool whose
// paymentProcessing is enabled, so its payer cannot be switched off alone: it is kept idle by a minimumPayment
// no balance reaches. BalanceRepository.GetPoolBalancesOverThresholdAsync selects
// "b.amount >= COALESCE(ms.paymentthreshold, @minimum)": a miner's own threshold REPLACES minimumPayment, even a
// lower one, and the API clamps only new settings (Math.Max(threshold, minimumPayment)). So rows written before
// minimumPayment was raised must be raised too, or MiningCore pays those miners itself. Amounts in 10^-12 units.

/** True when MiningCore's payer would pay this balance (note: >=, where open-ethereum-pool pays only above). */
export function minerPayoutDue(balance: bigint, minerThreshold: bigint | null, minimumPayment: bigint): boolean {
  return balance >= (minerThreshold ?? minimumPayment);
}

/** PoolApiController/AdminApiController: a miner's requested threshold is raised to minimumPayment, never lowered. */
export function clampMinerThreshold(requested: bigint, minimumPayment: bigint): bigint {
  return requested > minimumPayment ? requested : minimumPayment;
}
