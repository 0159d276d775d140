/**
 * Short Stage I runs side by side at equal time: each variant trains from scratch for the same
 * minutes on one run's preprocessed images, captions and embeddings, then evaluate scores it with
 * one classifier (the --from run's, else trained once; copied along). Prints a table (images/s, minutes, epochs, scores)
 * and writes it to <into>/table.md and table.json, with the variants' grids side by side in <into>/grids.jpg. Rerunning skips what is done.
 *   pnpm tsx scripts/compare-stage1.ts --from $HOME/t2i-runs/release --into $HOME/t2i-runs/compare \
 *     --minutes 20 --variant "release=" --variant "wgan-gp=--config release-wgan-gp"
 */
import { fromRoot, log, newCommand, parseOptions, readJson, runCommand, trainingSpan, UsageError } from '@t2i/core';
import { cpSync, existsSync, mkdirSync, openSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { writeLabelledMontage } from '../packages/gan/src/images.ts';
import { z } from 'zod';

const UPSTREAM = ['preprocess-images', 'captions', 'embeddings'] as const;

const Options = z.object({
  from: z.string(),
  into: z.string(),
  minutes: z.coerce.number().positive(),
  config: z.string(),
  variant: z.array(z.string().regex(/^[\w.-]+=/, 'name=flags, e.g. "ngf64=--ngf 64"')).min(1),
  evaluate: z.string(),
  threads: z.coerce.number().int().positive().optional(),
});

interface Row {
  name: string;
  flags: string;
  imagesPerSecond: number;
  minutes: number;
  epochs: number;
  fid: number;
  rPrecision: number;
  top1: number;
  top5: number;
  inceptionScore: number;
  grid: string;
}

/** Runs a package's cli with the variant's artifacts folder, its output into a log file. */
async function step(pkg: string, args: string[], dir: string, logName: string, threads?: number): Promise<void> {
  const out = openSync(path.join(dir, logName), 'w');
  const env = { ...process.env, T2I_ARTIFACTS: dir, ...(threads && { T2I_THREADS: String(threads) }) };
  const run = await $({ cwd: fromRoot(`packages/${pkg}`), env, stdio: ['ignore', out, out], nothrow: true })`npx tsx src/cli.ts ${args}`;
  if (run.exitCode !== 0) throw new UsageError(`${pkg} ${args.join(' ')} failed (exit ${run.exitCode}); see ${path.join(dir, logName)}`);
}

function row(name: string, flags: string, dir: string): Row {
  const { seconds, epoch, step } = trainingSpan(path.join(dir, 'stage1', 'metrics.jsonl'));
  const batch = readJson<{ config: { batchSize: number } }>(path.join(dir, 'stage1', 'manifest.json')).config.batchSize;
  const s = readJson<{ stages: { stage1: { fid: { value: number }; rPrecision: { mean: number }; classConsistency: { top1: number; top5: number }; inceptionScore: { mean: number } } } }>(path.join(dir, 'evaluate', 'scores.json')).stages.stage1;
  return {
    name,
    flags,
    imagesPerSecond: (step * batch) / seconds,
    minutes: seconds / 60,
    epochs: epoch,
    fid: s.fid.value,
    rPrecision: s.rPrecision.mean,
    top1: s.classConsistency.top1,
    top5: s.classConsistency.top5,
    inceptionScore: s.inceptionScore.mean,
    grid: path.join(dir, 'stage1', 'grid-latest.png'),
  };
}

function table(rows: Row[], floor: number | undefined): string {
  const lines = ['| variant | flags | images/s | minutes | epochs | FID | R-precision | class top-1 / top-5 | IS |', '|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.name} | \`${r.flags || '(config)'}\` | ${r.imagesPerSecond.toFixed(1)} | ${r.minutes.toFixed(1)} | ${r.epochs} | ${r.fid.toFixed(2)} | ${r.rPrecision.toFixed(3)} | ${(100 * r.top1).toFixed(1)}% / ${(100 * r.top5).toFixed(1)}% | ${r.inceptionScore.toFixed(2)} |`);
  if (floor !== undefined) lines.push('', `FID floor (real training-class photos against real test-class photos): ${floor.toFixed(2)}.`);
  return lines.join('\n');
}

const command = newCommand('compare-stage1', 'Train Stage I variants from scratch for equal minutes on one run\'s upstream artifacts, score each with evaluate, and print the table')
  .requiredOption('--from <dir>', 'a run folder holding preprocess-images/, captions/ and embeddings/ (linked, not copied)')
  .requiredOption('--into <dir>', 'where each variant gets its run folder, and the table goes')
  .option('--minutes <n>', 'training minutes of each variant (stage1 train --minutes)', '20')
  .option('--config <name|file>', "stage1's base config, each variant's flags override it", 'release')
  .option('--variant <name=flags>', 'a variant: its name, then stage1 train flags (repeat the option)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--evaluate <flags>', "evaluate's flags, the same for every variant", '--config full --captions-per-image 1')
  .option('--threads <n>', "the wasm backend's threads (default: $T2I_THREADS, else every core)")
  .action(async (raw) => {
    const o = parseOptions(Options, raw, 'compare-stage1');
    const from = path.resolve(o.from);
    const into = path.resolve(o.into);
    for (const s of UPSTREAM) if (!existsSync(path.join(from, s, 'manifest.json'))) throw new UsageError(`${path.join(from, s)} holds no finished ${s} step; run the pipeline up to embeddings with T2I_ARTIFACTS=${from} first`);
    const sharedClassifier = path.join(into, 'classifier');
    // The --from run's classifier, when it has one, spares each comparison its training (about 24 minutes on the full data).
    const fromClassifier = path.join(from, 'evaluate', 'classifier');
    if (!existsSync(sharedClassifier) && existsSync(fromClassifier)) cpSync(fromClassifier, sharedClassifier, { recursive: true });
    const rows: Row[] = [];
    let floor: number | undefined;
    for (const v of o.variant) {
      const name = v.slice(0, v.indexOf('='));
      const flags = v.slice(v.indexOf('=') + 1).trim();
      const dir = path.join(into, name);
      mkdirSync(dir, { recursive: true });
      for (const s of UPSTREAM) if (!existsSync(path.join(dir, s))) symlinkSync(path.join(from, s), path.join(dir, s));
      const trained = path.join(dir, 'trained.json');
      if (!existsSync(trained)) {
        log(`${name}: training ${o.minutes} minutes (${flags || 'the config as it is'}); log ${path.join(dir, 'stage1.log')}`);
        await step('stage1', ['train', '--config', o.config, ...flags.split(/\s+/).filter(Boolean), '--restart', '--minutes', String(o.minutes)], dir, 'stage1.log', o.threads);
        writeFileSync(trained, JSON.stringify({ flags, minutes: o.minutes, config: o.config }));
      }
      const scores = path.join(dir, 'evaluate', 'scores.json');
      if (!existsSync(scores)) {
        if (existsSync(sharedClassifier) && !existsSync(path.join(dir, 'evaluate', 'classifier'))) cpSync(sharedClassifier, path.join(dir, 'evaluate', 'classifier'), { recursive: true });
        log(`${name}: evaluating (${o.evaluate}); log ${path.join(dir, 'evaluate.log')}`);
        await step('evaluate', o.evaluate.split(/\s+/).filter(Boolean), dir, 'evaluate.log', o.threads);
        if (!existsSync(sharedClassifier)) cpSync(path.join(dir, 'evaluate', 'classifier'), sharedClassifier, { recursive: true });
      }
      rows.push(row(name, flags, dir));
      floor = readJson<{ real: { fidTrainVsTest: { value: number } } }>(scores).real.fidTrainVsTest.value;
    }
    const md = table(rows, floor);
    writeFileSync(path.join(into, 'table.md'), md + '\n');
    writeFileSync(path.join(into, 'table.json'), JSON.stringify({ minutes: o.minutes, config: o.config, evaluate: o.evaluate, floor, rows }, null, 2));
    console.log(md);
    const grids = path.join(into, 'grids.jpg');
    await writeLabelledMontage(grids, rows.map((r) => ({ file: r.grid, label: `${r.name}: FID ${r.fid.toFixed(1)}, ${r.epochs} epochs` })), Math.min(3, rows.length));
    log(`grids side by side: ${grids}`);
  });

await runCommand(command);
