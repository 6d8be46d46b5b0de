import type { ApprovalContext, PermissionAnswer, Prompter, RiskAnswer, ScopeAnswer } from './types';

/** Passes every question to another prompter and tells `report` what was asked and answered. */
export class ReportingPrompter implements Prompter {
  constructor(
    private readonly inner: Prompter,
    private readonly report: (line: string) => void,
  ) {}

  async approvePermission(context: ApprovalContext, signal: AbortSignal): Promise<PermissionAnswer> {
    const answer = await this.inner.approvePermission(context, signal);
    this.report(`first use of ${context.permission} by plugin "${context.plugin}" -> ${answer}`);
    return answer;
  }

  async approveScope(context: ApprovalContext, signal: AbortSignal): Promise<ScopeAnswer> {
    const answer = await this.inner.approveScope(context, signal);
    const scope = context.scope === undefined ? '' : ` ${context.scope.key}=${context.scope.value.slice(0, 12)}…`;
    this.report(`may plugin "${context.plugin}" use ${context.operation} for${scope}? -> ${answer}`);
    return answer;
  }

  async approveHighRisk(context: ApprovalContext, signal: AbortSignal): Promise<RiskAnswer> {
    const answer = await this.inner.approveHighRisk(context, signal);
    this.report(`high-risk ${context.operation} by plugin "${context.plugin}" (${context.details.join('; ') || 'no peer'}) -> ${answer}`);
    return answer;
  }
}
