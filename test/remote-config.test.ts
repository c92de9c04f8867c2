/** Pure parts of the scale-out configuration: cache and queue URLs, the local copy's place, error transport. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { homedir } from 'node:os';
import { isRemoteCache, localCacheDir, parseS3Url } from '../src/engine/remote/location.js';
import { decodeError, encodeError, parseRedisUrl } from '../src/engine/remote/redis.js';
import { defaultLocations } from '../src/engine/env.js';
import { EmopipeError } from '../src/util/errors.js';

test('s3:// cache URLs: bucket and prefix; anything else is a directory', () => {
  assert.deepEqual(parseS3Url('s3://emopipe-cache/team-a'), { bucket: 'emopipe-cache', prefix: 'team-a' });
  assert.deepEqual(parseS3Url('s3://b/x/y/'), { bucket: 'b', prefix: 'x/y' });
  assert.deepEqual(parseS3Url('s3://b'), { bucket: 'b', prefix: '' });
  assert.throws(() => parseS3Url('s3:///x'), (e: unknown) => e instanceof EmopipeError && e.code === 'E_USAGE' && /expected s3:\/\/BUCKET/.test(e.message));
  assert.equal(isRemoteCache({ EMOPIPE_CACHE: 's3://b/p' }), true);
  assert.equal(isRemoteCache({ EMOPIPE_CACHE: './cache' }), false);
  assert.equal(isRemoteCache({}), false);
});

test('the local read-through copy: EMOPIPE_LOCAL_CACHE, else under the user cache dir by bucket and prefix', () => {
  assert.equal(localCacheDir({ EMOPIPE_CACHE: 's3://b/team/a', EMOPIPE_LOCAL_CACHE: 'lc' }), resolve('lc'));
  assert.equal(localCacheDir({ EMOPIPE_CACHE: 's3://b/team/a', XDG_CACHE_HOME: '/xdg' }), '/xdg/emopipe/s3/b/team/a');
  assert.equal(localCacheDir({ EMOPIPE_CACHE: 's3://b' }), join(homedir(), '.cache', 'emopipe', 's3', 'b'));
  // Commands that look at the cache directory (status, inspect, local gc) see the local copy.
  assert.equal(defaultLocations({ EMOPIPE_CACHE: 's3://b/p', EMOPIPE_LOCAL_CACHE: '/tmp/lc' }).cacheDir, '/tmp/lc');
  assert.equal(defaultLocations({ EMOPIPE_CACHE: 'mycache' }).cacheDir, resolve('mycache'));
});

test('queue URLs: redis://HOST:PORT (password never shown); others are usage errors', () => {
  assert.deepEqual(parseRedisUrl('redis://queue-host:6380'), { host: 'queue-host', port: 6380, display: 'redis://queue-host:6380' });
  const withAuth = parseRedisUrl('redis://:s3cret@h/2');
  assert.equal(withAuth.password, 's3cret');
  assert.equal(withAuth.db, 2);
  assert.equal(withAuth.port, 6379);
  assert.doesNotMatch(withAuth.display, /s3cret/);
  for (const bad of ['http://h:1', 'queue-host:6379', 'redis://']) {
    assert.throws(() => parseRedisUrl(bad), (e: unknown) => e instanceof EmopipeError && e.code === 'E_USAGE', bad);
  }
});

test("a worker's error keeps its code and message on the way to the coordinator", () => {
  const text = encodeError('E_WAV_INVALID', 'a.wav: not a RIFF file\nsecond line');
  assert.deepEqual(decodeError(text), { code: 'E_WAV_INVALID', message: 'a.wav: not a RIFF file\nsecond line' });
  assert.deepEqual(decodeError('job stalled more than allowable limit'), { code: 'E_QUEUE', message: 'job stalled more than allowable limit' });
});
