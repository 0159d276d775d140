import path from 'node:path';
import { writeJsonAtomic } from './atomic.ts';
import { BadInputError, formatProblem, type Problem } from './errors.ts';
import { log } from './log.ts';

/**
 * The one policy for bad input: fail listing every problem, or with --skip-bad go on without
 * the affected images and record them beside the artifact. Returns the image ids to drop.
 */
export async function handleProblems(step: string, outDir: string, problems: Problem[], skipBad: boolean): Promise<Set<string>> {
  if (problems.length === 0) return new Set();
  if (!skipBad) throw new BadInputError(step, problems);
  log(`${step}: skipping ${problems.length} bad input(s), listed in ${path.join(outDir, 'skipped.json')}:`);
  for (const p of problems) log(formatProblem(p));
  return new Set(problems.flatMap((p) => (p.imageId ? [p.imageId] : [])));
}

export async function writeSkippedReport(outDir: string, problems: Problem[]): Promise<void> {
  await writeJsonAtomic(path.join(outDir, 'skipped.json'), { count: problems.length, problems });
}
