import { useQuery } from '@tanstack/react-query';
import { isMissing } from './api/client';
import { useHub } from './context';

/** The dev server's demo providers (`GET /dev/demo`); null elsewhere. */
export function useDemo() {
  const { api } = useHub();
  return useQuery({
    queryKey: ['demo'],
    queryFn: async () => {
      try {
        return await api.demo();
      } catch {
        return null;
      }
    },
    staleTime: Infinity,
    retry: false,
  });
}

/** Who the user is and their workspace (`GET /me`); null on servers without it. */
export function useMe() {
  const { api } = useHub();
  return useQuery({
    queryKey: ['me'],
    queryFn: async () => {
      try {
        return await api.me();
      } catch (error) {
        if (isMissing(error)) return null;
        throw error;
      }
    },
    staleTime: 60000,
  });
}
