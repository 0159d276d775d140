/**
 * Errors t2i raises on purpose: each says what went wrong and what to do, so a command prints its
 * message alone (cli.ts tells them from crashes by their class).
 */
export class ExpectedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A flag, config or environment variable the command cannot use. */
export class UsageError extends ExpectedError {}

/** An artifact of an earlier step that is missing, damaged or of another layout. */
export class ArtifactError extends ExpectedError {}

/** A dataset folder that is not in the official Oxford-102 + text_c10 layout. */
export class DatasetLayoutError extends ExpectedError {}

/** A run that has diverged (a NaN or infinite loss, weight or optimizer slot): what to do is the user's call. */
export class DivergedError extends ExpectedError {}

/** One piece of bad input: the file, what is wrong with it, and what a user can do about it. */
export interface Problem {
  file: string;
  problem: string;
  fix: string;
  /** The image this problem removes from the artifact under --skip-bad, if any. */
  imageId?: string;
}

export function formatProblem(p: Problem): string {
  return `  ${p.file}: ${p.problem} (${p.fix})`;
}

/** Bad dataset files, every one listed: the step wrote no artifact. */
export class BadInputError extends ExpectedError {
  constructor(
    readonly step: string,
    readonly problems: Problem[],
  ) {
    super(
      `${step}: ${problems.length} problem(s) in the input; no artifact was written.\n` +
        problems.map(formatProblem).join('\n') +
        `\nFix the files above, or rerun with --skip-bad to write the artifact without them (they are listed in skipped.json).`,
    );
  }
}
