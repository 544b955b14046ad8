import { useQuery } from '@tanstack/react-query';
import { isMissing } from '../api/client';
import { useHub } from '../context';
import { formatDay } from '../lib/format';
import { ProgressBar } from './ProgressBar';

export function useUsage() {
  const { api } = useHub();
  return useQuery({
    queryKey: ['usage'],
    queryFn: async () => {
      try {
        return await api.usage();
      } catch (error) {
        if (isMissing(error)) return null;
        throw error;
      }
    },
    staleTime: 30000,
  });
}

/** "7 of 10 imports this month, resets on 1 January" where a limit is set; nothing otherwise. */
export function QuotaBanner() {
  const { data } = useUsage();
  if (!data || data.limit == null) return null;
  const used = Math.min(data.imports_this_month, data.limit);
  const text = `${data.imports_this_month} of ${data.limit} imports this month, resets on ${formatDay(data.resets_at)}`;
  return (
    <section className={`quota ${used >= data.limit ? 'full' : ''}`} aria-label="Monthly imports">
      <p>{text}</p>
      <ProgressBar value={used} max={data.limit} label="Imports used this month" />
    </section>
  );
}
