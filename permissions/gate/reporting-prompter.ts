import type { ApprovalContext, PermissionAnswer, Prompter, RiskAnswer, ScopeAnswer } from './types';

/** Passes every question to another prompter and tells `report` what was asked and answered. */
export class ReportingPrompter implements Prompter {
  constructor(
    private readonly inner: Prompter,
    private readonly report: (line: string) => void,
  ) {}

  async approvePermission(context: ApprovalContext): Promise<PermissionAnswer> {
    const answer = await this.inner.approvePermission(context);
    this.report(`first use of ${context.permission} by plugin "${context.plugin}" -> ${answer}`);
    return answer;
  }

  async approveScope(context: ApprovalContext): Promise<ScopeAnswer> {
    const answer = await this.inner.approveScope(context);
    const scope = context.scope === undefined ? '' : ` ${context.scope.key}=${context.scope.value.slice(0, 12)}…`;
    this.report(`may plugin "${context.plugin}" use ${context.operation} for${scope}? -> ${answer}`);
    return answer;
  }

  async approveHighRisk(context: ApprovalContext): Promise<RiskAnswer> {
    const answer = await this.inner.approveHighRisk(context);
    this.report(`high-risk ${context.operation} by plugin "${context.plugin}" (${context.details.join('; ') || 'no peer'}) -> ${answer}`);
    return answer;
  }
}
