/**
 * Downloads Oxford-102 and Reed et al.'s captions into DIR, in the layout the pipeline reads:
 *   pnpm tsx scripts/fetch-dataset.ts [DIR]      (the same as `pnpm t2i fetch-dataset [DIR]`; --help lists the flags)
 */
import { runCommand } from '@t2i/core';
import { fetchDatasetCommand } from '../packages/t2i/src/fetch-dataset.ts';

await runCommand(fetchDatasetCommand());
