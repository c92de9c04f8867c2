import type { RavdessFields } from './manifest.js';

/** The eight RAVDESS emotions in code order (01..08); also the default class order. */
export const RAVDESS_EMOTIONS = ['neutral', 'calm', 'happy', 'sad', 'angry', 'fearful', 'disgust', 'surprised'] as const;

/** Where to get the corpus (Zenodo record 1188976, the speech-only audio archive). */
export const RAVDESS_DOWNLOAD = {
  url: 'https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip',
  md5: 'bc696df654c87fed845eb13823edef8a',
  record: 'https://zenodo.org/records/1188976',
} as const;

const NAME = /^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav$/i;

export type RavdessParse = { ok: true; fields: RavdessFields } | { ok: false; reason: string };

/**
 * Parse a RAVDESS file name. Only audio-only speech (modality 03, vocal channel 01) is accepted;
 * anything else gets a reason, so the ingest report can say why a file was left out.
 */
export function parseRavdessName(fileName: string): RavdessParse {
  const m = NAME.exec(fileName);
  if (!m) return { ok: false, reason: 'name does not match RAVDESS MM-VV-EE-II-SS-RR-AA.wav' };
  const [, modality, vocalChannel, emotion, intensity, statement, repetition, actor] = m as unknown as string[];
  if (modality !== '03') return { ok: false, reason: `modality ${modality} is not audio-only (03)` };
  if (vocalChannel === '02') return { ok: false, reason: 'song (vocal channel 02), not speech' };
  if (vocalChannel !== '01') return { ok: false, reason: `unknown vocal channel ${vocalChannel}` };
  const code = Number(emotion);
  if (code < 1 || code > RAVDESS_EMOTIONS.length) return { ok: false, reason: `unknown emotion code ${emotion}` };
  if (intensity !== '01' && intensity !== '02') return { ok: false, reason: `unknown intensity ${intensity}` };
  if (statement !== '01' && statement !== '02') return { ok: false, reason: `unknown statement ${statement}` };
  const actorNo = Number(actor);
  if (actorNo < 1) return { ok: false, reason: `invalid actor ${actor}` };
  return {
    ok: true,
    fields: {
      modality: modality!,
      vocalChannel: vocalChannel!,
      emotion: emotion!,
      emotionName: RAVDESS_EMOTIONS[code - 1]!,
      intensity: intensity!,
      statement: statement!,
      repetition: repetition!,
      actor: actor!,
      gender: actorNo % 2 === 1 ? 'male' : 'female',
    },
  };
}
