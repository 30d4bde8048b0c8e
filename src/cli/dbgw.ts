import { notBuilt } from './not-built.js';

export const main = notBuilt('dbgw', 6, 'the database gateway');
