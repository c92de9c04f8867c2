import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { EmopipeError } from '../util/errors.js';
import type { RavdessFields } from './manifest.js';
import { parseRavdessName } from './ravdess.js';
import { parseCsv } from './csv.js';

/** A file found under a corpus root, before it is read. */
export interface FileStat {
  /** Relative to the corpus root, forward slashes. */
  path: string;
  size: number;
  mtimeMs: number;
}

/** A file the layout says belongs to the corpus, with the label and speaker the layout gives it. */
export interface Candidate extends FileStat {
  label: string;
  speaker: string;
  ravdess?: RavdessFields;
}

export interface ScanResult {
  /** Absolute corpus root; candidate paths are relative to it. */
  root: string;
  candidates: Candidate[];
  skipped: { path: string; reason: string }[];
  /** Files named by the layout that cannot even be stat'ed (CSV rows pointing nowhere). */
  missing: { path: string; error: string }[];
  /** Every candidate file's identity plus layout files (the CSV), for the engine fingerprint. */
  listing: FileStat[];
}

const toPosix = (p: string) => (sep === '/' ? p : p.split(sep).join('/'));
const byPath = <T extends { path: string }>(a: T, b: T) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Every *.wav below `root` (symlinks followed), sorted by relative path. */
export async function listWavFiles(root: string): Promise<FileStat[]> {
  let top;
  try {
    top = await stat(root);
  } catch {
    throw new EmopipeError('E_INPUT_MISSING', `corpus root ${root} does not exist`);
  }
  if (!top.isDirectory()) throw new EmopipeError('E_INPUT_MISSING', `corpus root ${root} is not a directory`);
  const out: FileStat[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const abs = join(dir, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const s = await stat(abs).catch(() => undefined);
        isDir = !!s?.isDirectory();
        isFile = !!s?.isFile() || !s; // a dangling link to a .wav is reported as unreadable later
      }
      if (isDir) await walk(abs);
      else if (isFile && /\.wav$/i.test(e.name)) {
        const s = await stat(abs).catch(() => undefined);
        out.push({ path: toPosix(relative(root, abs)), size: s?.size ?? -1, mtimeMs: s?.mtimeMs ?? -1 });
      }
    }
  };
  await walk(root);
  return out.sort(byPath);
}

export async function scanRavdess(root: string): Promise<ScanResult> {
  const files = await listWavFiles(root);
  const candidates: Candidate[] = [];
  const skipped: ScanResult['skipped'] = [];
  for (const f of files) {
    const parsed = parseRavdessName(basename(f.path));
    if (!parsed.ok) {
      skipped.push({ path: f.path, reason: parsed.reason });
      continue;
    }
    candidates.push({ ...f, label: parsed.fields.emotionName, speaker: parsed.fields.actor, ravdess: parsed.fields });
  }
  return { root, candidates, skipped, missing: [], listing: files };
}

/** Speaker id from a path: the first capture group of `speakerRegex`, else "unknown". */
function speakerOf(path: string, speakerRegex: RegExp | undefined): string | undefined {
  if (!speakerRegex) return 'unknown';
  const m = speakerRegex.exec(path);
  return m ? (m[1] ?? m[0]) : undefined;
}

/** `root/<label>/**.wav`: the first folder below the root names the class. */
export async function scanFolders(root: string, speakerRegex?: RegExp): Promise<ScanResult> {
  const files = await listWavFiles(root);
  const candidates: Candidate[] = [];
  const skipped: ScanResult['skipped'] = [];
  for (const f of files) {
    const slash = f.path.indexOf('/');
    if (slash < 0) {
      skipped.push({ path: f.path, reason: 'not inside a label folder' });
      continue;
    }
    const speaker = speakerOf(f.path, speakerRegex);
    if (speaker === undefined) {
      skipped.push({ path: f.path, reason: `path does not match speaker_regex ${speakerRegex}` });
      continue;
    }
    candidates.push({ ...f, label: f.path.slice(0, slash), speaker });
  }
  return { root, candidates, skipped, missing: [], listing: files };
}

/**
 * A CSV manifest with a header row naming at least `path` and `label` (optionally `speaker`).
 * Relative paths are relative to `root` (default: the CSV's own folder).
 */
export async function scanCsv(csvFile: string, rootParam: string | undefined, speakerRegex?: RegExp): Promise<ScanResult> {
  let text: string;
  let csvStat;
  try {
    [text, csvStat] = await Promise.all([readFile(csvFile, 'utf8'), stat(csvFile)]);
  } catch (e) {
    throw new EmopipeError('E_INPUT_MISSING', `cannot read CSV manifest: ${(e as Error).message}`, { file: csvFile });
  }
  const root = rootParam ?? dirname(csvFile);
  const records = parseCsv(text, csvFile);
  const header = (records.shift() ?? []).map((h) => h.trim().toLowerCase());
  const col = (name: string) => header.indexOf(name);
  const [pathCol, labelCol, speakerCol] = [col('path'), col('label'), col('speaker')];
  if (pathCol < 0 || labelCol < 0) {
    throw new EmopipeError('E_INPUT_MISSING', `CSV manifest needs a header row with "path" and "label" columns (found: ${header.join(', ') || 'nothing'})`, { file: csvFile, line: 1 });
  }
  const candidates: Candidate[] = [];
  const skipped: ScanResult['skipped'] = [];
  const missing: ScanResult['missing'] = [];
  const listing: FileStat[] = [{ path: toPosix(relative(root, csvFile)), size: csvStat.size, mtimeMs: csvStat.mtimeMs }];
  const seen = new Set<string>();
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (r.length === 1 && r[0]!.trim() === '') continue;
    const line = i + 2;
    const raw = (r[pathCol] ?? '').trim();
    const label = (r[labelCol] ?? '').trim();
    if (!raw || !label) {
      skipped.push({ path: raw || `${basename(csvFile)}:${line}`, reason: `CSV line ${line} lacks a path or a label` });
      continue;
    }
    const abs = isAbsolute(raw) ? raw : resolve(root, raw);
    const path = toPosix(relative(root, abs));
    if (seen.has(path)) {
      skipped.push({ path, reason: `listed again on CSV line ${line}` });
      continue;
    }
    seen.add(path);
    let speaker = speakerCol >= 0 ? (r[speakerCol] ?? '').trim() : '';
    if (!speaker) {
      const s = speakerOf(path, speakerRegex);
      if (s === undefined) {
        skipped.push({ path, reason: `no speaker column value and path does not match speaker_regex ${speakerRegex}` });
        continue;
      }
      speaker = s;
    }
    const s = await stat(abs).catch((e: Error) => e);
    if (s instanceof Error) {
      missing.push({ path, error: `listed on CSV line ${line} but cannot be read: ${s.message}` });
      listing.push({ path, size: -1, mtimeMs: -1 });
      continue;
    }
    const f = { path, size: s.size, mtimeMs: s.mtimeMs };
    listing.push(f);
    candidates.push({ ...f, label, speaker });
  }
  return { root, candidates: candidates.sort(byPath), skipped, missing, listing };
}
