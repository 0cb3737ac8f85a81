/** The audit target fields of a record about one cluster. */
export function clusterAuditTarget(c: { id: string; name: string; siteId: string }) {
  return {
    resourceType: 'cluster',
    resourceId: c.id,
    resourceName: c.name,
    siteIds: [c.siteId],
    clusterIds: [c.id],
  };
}
