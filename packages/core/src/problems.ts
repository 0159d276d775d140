import path from 'node:path';
import { writeJsonAtomic } from './atomic.ts';
import { log } from './log.ts';

/** One piece of bad input: the file, what is wrong with it, and what a user can do about it. */
export interface Problem {
  file: string;
  problem: string;
  fix: string;
  /** The image this problem removes from the artifact under --skip-bad, if any. */
  imageId?: string;
}

export class BadInputError extends Error {
  constructor(
    readonly stage: string,
    readonly problems: Problem[],
  ) {
    super(
      `${stage}: ${problems.length} problem(s) in the input; no artifact was written.\n` +
        problems.map(formatProblem).join('\n') +
        `\nFix the files above, or rerun with --skip-bad to write the artifact without them (they are listed in skipped.json).`,
    );
    this.name = 'BadInputError';
  }
}

export function formatProblem(p: Problem): string {
  return `  ${p.file}: ${p.problem} (${p.fix})`;
}

/**
 * The one policy for bad input: fail listing every problem, or with --skip-bad go on without
 * the affected images and record them beside the artifact. Returns the image ids to drop.
 */
export async function handleProblems(stage: string, outDir: string, problems: Problem[], skipBad: boolean): Promise<Set<string>> {
  if (problems.length === 0) return new Set();
  if (!skipBad) throw new BadInputError(stage, problems);
  log(`${stage}: skipping ${problems.length} bad input(s), listed in ${path.join(outDir, 'skipped.json')}:`);
  for (const p of problems) log(formatProblem(p));
  return new Set(problems.flatMap((p) => (p.imageId ? [p.imageId] : [])));
}

export async function writeSkippedReport(outDir: string, problems: Problem[]): Promise<void> {
  await writeJsonAtomic(path.join(outDir, 'skipped.json'), { count: problems.length, problems });
}
