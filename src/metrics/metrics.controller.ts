import { createHash, timingSafeEqual } from 'node:crypto';
import { Controller, Get, Header, Headers } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { DomainException } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { Public } from '../common/http/public.decorator';
import { AppConfig } from '../config/config.module';
import { MetricsService } from './metrics.service';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Public unless METRICS_TOKEN is set; then only `Authorization: Bearer <METRICS_TOKEN>`. */
@ApiExcludeController()
@Public()
@Controller('metrics')
export class MetricsController {
  private readonly expected?: Buffer;

  constructor(
    private readonly metrics: MetricsService,
    env: AppConfig,
  ) {
    if (env.METRICS_TOKEN) this.expected = digest(`Bearer ${env.METRICS_TOKEN}`);
  }

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async scrape(@Headers('authorization') authorization?: string): Promise<string> {
    if (this.expected && !timingSafeEqual(digest(authorization ?? ''), this.expected)) {
      throw new DomainException(
        ErrorCode.Unauthenticated,
        401,
        'Unauthenticated',
        'Send the metrics token as `Authorization: Bearer <METRICS_TOKEN>`',
      );
    }
    return this.metrics.render();
  }
}
