import { Controller, Delete, Get, Patch, Post, Put } from '@nestjs/common';
import { INTERCEPTORS_METADATA } from '@nestjs/common/constants';
import type { ModulesContainer } from '@nestjs/core';
import { Reflector } from '@nestjs/core';
import type { AppConfig } from '../../config/config.module';
import {
  bindWriteAdmission,
  SkipWriteQueue,
  WriteAdmissionInterceptor,
} from './write-admission.interceptor';

@Controller('things')
class ThingsController {
  @Get()
  list(): void {}
  @Post()
  create(): void {}
  @Put(':id')
  replace(): void {}
  @Patch(':id')
  update(): void {}
  @Delete(':id')
  remove(): void {}
  @Post('probe')
  @SkipWriteQueue()
  probe(): void {}
  helper(): void {}
}

@Controller('slow')
@SkipWriteQueue()
class SlowController {
  @Post()
  run(): void {}
}

const interceptorsOf = (handler: unknown): unknown[] =>
  (Reflect.getMetadata(INTERCEPTORS_METADATA, handler as object) ?? []) as unknown[];

describe('bindWriteAdmission', () => {
  it('binds the interceptor to write handlers only, once, and not where the queue is skipped', () => {
    const interceptor = new WriteAdmissionInterceptor(
      { WRITE_CONCURRENCY: 1, WRITE_QUEUE_MAX: 10, WRITE_QUEUE_TIMEOUT_MS: 1000 } as AppConfig,
      new Reflector(),
    );
    const modules = new Map([
      [
        'm',
        {
          controllers: new Map([
            ['a', { metatype: ThingsController }],
            ['b', { metatype: SlowController }],
          ]),
        },
      ],
    ]) as unknown as ModulesContainer;
    bindWriteAdmission(modules, interceptor);
    bindWriteAdmission(modules, interceptor);
    const p = ThingsController.prototype;
    for (const handler of [p.create, p.replace, p.update, p.remove])
      expect(interceptorsOf(handler)).toEqual([interceptor]);
    for (const handler of [p.list, p.probe, p.helper, SlowController.prototype.run])
      expect(interceptorsOf(handler)).toEqual([]);
  });
});
