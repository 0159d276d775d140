import { loadConfig } from '@t2i/core';
import { ganFlags } from '@t2i/gan';
import { readdirSync } from 'node:fs';
import { z } from 'zod';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { departures, Stage2Config } from '../src/config.ts';

describe('Stage II configs', () => {
  it('load by name, each shipped one', () => {
    const names = readdirSync(path.join(import.meta.dirname, '../configs')).map((f) => path.basename(f, '.json'));
    expect(names.sort()).toEqual(['full', 'release', 'tiny']);
    for (const name of names) expect(loadConfig(Stage2Config, 'stage2', name).name).toBe(name);
  });

  it('keep the paper in full, the departures that kept Stage I\'s image on the sample in tiny, and those and the projection in release', () => {
    const switches = (name: string) => {
      const c = loadConfig(Stage2Config, 'stage2', name);
      return [c.inputSkip ?? false, c.detailOnly ?? false, c.consistencyWeight ?? 0, c.upsamplerWeight ?? 0, c.projectWhenDrawing ?? false];
    };
    expect(switches('full')).toEqual([false, false, 0, 0, false]);
    expect(switches('tiny')).toEqual([true, false, 50, 0, false]);
    // Projected on the full data, where Stage I's own 64 px image scores above its upscale; not on the sample, where it does not.
    expect(switches('release')).toEqual([true, false, 50, 0, true]);
  });

  it('name their departures in words, for the report', () => {
    const named = (name: string) => departures(loadConfig(Stage2Config, 'stage2', name));
    expect(named('full')).toEqual([]);
    expect(named('tiny')).toEqual(['input skip', 'consistency 50']);
    expect(named('release')).toEqual(['input skip', 'consistency 50', 'drawn projected onto Stage I at 64 px']);
    expect(departures({ detailOnly: true, inputSkip: true, upsamplerWeight: 10 })).toEqual(['detail only', 'upsampler 10']);
  });

  it('take the loss switches from the command line, as Stage I does, and refuse an unknown loss', () => {
    const flags = z.object(ganFlags);
    const overrides = flags.parse({ loss: 'wgan-gp', auxClassLoss: '0.5' });
    const config = loadConfig(Stage2Config, 'stage2', 'release', overrides);
    expect([config.loss, config.auxClassLoss]).toEqual(['wgan-gp', 0.5]);
    expect(flags.safeParse({ loss: 'hinge' }).success).toBe(false);
    expect(flags.safeParse({ auxClassLoss: '-1' }).success).toBe(false);
  });
});
