import { notBuilt } from './not-built.js';

export const main = notBuilt('esman', 5, 'the encrypted secret store manager');
