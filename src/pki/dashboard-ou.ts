/** The subject OU of the dashboard CA and of the dashboard's server certificate: no TLS identity, so neither serves nor calls anything else. */
export const DASHBOARD_OU = 'dashboard';
