import { PRESET_NAMES, type PresetName, SRCSET_WIDTHS } from '@tickets/sdk';

/**
 * The delivery presets: one table, used by both providers. Cloudinary gets each as a named
 * transformation (`t_tickets_card`, created on start when missing); the local store applies the same
 * geometry with sharp. `f_auto,q_auto`: the best format the browser takes, at an automatic quality.
 */
export interface Preset {
  name: PresetName;
  description: string;
  width: number;
  /** Null: the height follows the image (no crop). */
  height: number | null;
  /** fill: cropped to exactly width × height around what draws the eye; limit: fit inside, never enlarged. */
  crop: 'fill' | 'limit';
}

export const PRESETS: Record<PresetName, Preset> = {
  thumbnail: { name: 'thumbnail', description: 'A square for lists', width: 200, height: 200, crop: 'fill' },
  card: { name: 'card', description: 'A 16:9 card, 800 wide', width: 800, height: 450, crop: 'fill' },
  og: {
    name: 'og',
    description: 'Link previews (Open Graph, Twitter cards): 1200×630',
    width: 1200,
    height: 630,
    crop: 'fill',
  },
  email: { name: 'email', description: 'The e-mail banner, 600 wide', width: 600, height: 240, crop: 'fill' },
  full: {
    name: 'full',
    description: 'The whole image, at most 1920 wide',
    width: 1920,
    height: null,
    crop: 'limit',
  },
};

export const PRESET_LIST: Preset[] = PRESET_NAMES.map((n) => PRESETS[n]);

export const SIZES = '(max-width: 640px) 100vw, (max-width: 1280px) 50vw, 960px';

export { SRCSET_WIDTHS };

/** A preset's geometry as Cloudinary writes it (the named transformation's value). */
export function cloudinaryTransformation(p: Preset): string {
  const geometry = p.crop === 'fill' ? `c_fill,g_auto,w_${p.width},h_${p.height}` : `c_limit,w_${p.width}`;
  return `${geometry}/f_auto,q_auto`;
}

/** Cloudinary's name for a preset's named transformation. */
export const namedTransformation = (p: PresetName) => `tickets_${p}`;

/** What the local store can be asked to make: a preset, or a width of the srcset. */
export type Variant = { kind: 'preset'; preset: Preset } | { kind: 'width'; width: number };

export function parseVariant(name: string): Variant | null {
  if (name in PRESETS) return { kind: 'preset', preset: PRESETS[name as PresetName] };
  const w = /^w_(\d+)$/.exec(name);
  if (w && (SRCSET_WIDTHS as readonly number[]).includes(Number(w[1])))
    return { kind: 'width', width: Number(w[1]) };
  return null;
}
