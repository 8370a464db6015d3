// Shared bits of the benchmarks that run against the simulator (fake qubesd + fake Wyng).
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function emit(human: string, figures: Record<string, unknown>): void {
  console.log(human);
  if (process.argv.includes('--json')) console.log(JSON.stringify(figures));
}
