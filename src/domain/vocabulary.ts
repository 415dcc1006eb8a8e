/** The enumerations of artifact metadata, shared by the tools' schemas and the checks in sql/001. */
export const ARTIFACT_TYPES = ['email', 'doc', 'chat', 'transcript', 'note'] as const;
export const SENSITIVITIES = ['normal', 'sensitive', 'highly_sensitive'] as const;
export const VISIBILITY_SCOPES = ['me', 'team', 'org', 'custom'] as const;
export const RETENTION_POLICIES = ['forever', '1y', 'until_resolved', 'custom'] as const;
