/** A progress bar; without a total it is indeterminate. */
export function ProgressBar({ value, max, label }: { value: number; max: number | null; label: string }) {
  const determinate = max != null && max > 0;
  const percent = determinate ? Math.min(100, Math.round((value / max) * 100)) : undefined;
  return (
    <div
      className={`progress ${determinate ? '' : 'indeterminate'}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={determinate ? 100 : undefined}
      aria-valuenow={percent}
    >
      <div className="progress-fill" style={determinate ? { width: `${percent}%` } : undefined} />
    </div>
  );
}
