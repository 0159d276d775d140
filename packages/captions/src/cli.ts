#!/usr/bin/env tsx
import { intFlag, outHelp, parseOptions, resolveDatasetDir, runCommand, datasetCommand, stepOutput } from '@t2i/core';
import { z } from 'zod';
import { buildCaptions } from './captions.ts';

const Options = z.object({
  data: z.string().optional(),
  out: z.string().optional(),
  minCount: intFlag(),
  skipBad: z.boolean(),
});

const command = datasetCommand('captions', "Parse the text_c10 captions (10 per image), tokenise them and build the vocabulary from training classes, into data/captions/")
  .option('--out <dir>', outHelp('captions'))
  .option('--min-count <n>', 'words seen fewer times in training captions become <unk>', '1')
  .option('--skip-bad', 'leave out bad caption files (listed in skipped.json) instead of failing', false)
  .action(async (raw) => {
    const o = parseOptions(Options, raw, 'captions');
    await buildCaptions({ dataDir: resolveDatasetDir(o.data), outDir: await stepOutput('captions', o.out), minCount: o.minCount, skipBad: o.skipBad });
  });

await runCommand(command);
