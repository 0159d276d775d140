import { loadConfig, UsageError } from '@t2i/core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Stage1Config } from '../src/config.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 't2i-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Stage I configs', () => {
  it('loads every shipped config by name, flags on top', () => {
    for (const name of ['tiny', 'full']) expect(loadConfig(Stage1Config, 'stage1', name).name).toBe(name);
    const full = loadConfig(Stage1Config, 'stage1', 'full', { ngf: 32, epochs: undefined });
    expect([full.ngf, full.epochs, full.generator]).toEqual([32, 600, 'complex']);
  });

  it('names the shipped configs for an unknown name, and the field for a bad value or an unknown key', () => {
    for (const name of ['full', 'release', 'tiny']) expect(() => loadConfig(Stage1Config, 'stage1', 'huge')).toThrow(new RegExp(`config "huge": no such file; use one of .*\\b${name}\\b`));
    expect(() => loadConfig(Stage1Config, 'stage1', 'full', { ngf: 0 })).toThrow(UsageError);
    expect(() => loadConfig(Stage1Config, 'stage1', 'full', { ngf: 0 })).toThrow(/ngf: /);
    const file = path.join(dir, 'mine.json');
    writeFileSync(file, JSON.stringify({ ...loadConfig(Stage1Config, 'stage1', 'tiny'), name: undefined, ngfs: 3 }));
    expect(() => loadConfig(Stage1Config, 'stage1', file)).toThrow(/mine\.json.*invalid config[\s\S]*ngfs/);
  });
});
