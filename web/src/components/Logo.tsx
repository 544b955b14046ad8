import type { SourceId } from '../api/types';

const COLORS: Record<string, [string, string]> = {
  fathom: ['#5b3df5', 'F'],
  zoom: ['#0b5cff', 'Z'],
  upload: ['#0f766e', '↑'],
};

/** A source's monogram: a coloured tile with its initial. */
export function SourceLogo({ source }: { source: SourceId }) {
  const [color, letter] = COLORS[source] ?? ['#475569', source.charAt(0).toUpperCase()];
  return (
    <svg className="logo" width="40" height="40" viewBox="0 0 40 40" aria-hidden="true" focusable="false">
      <rect width="40" height="40" rx="10" fill={color} />
      <text x="20" y="27" textAnchor="middle" fontSize="20" fontWeight="700" fill="#fff" fontFamily="system-ui, sans-serif">
        {letter}
      </text>
    </svg>
  );
}
