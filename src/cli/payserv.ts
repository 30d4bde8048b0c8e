import { notBuilt } from './not-built.js';

export const main = notBuilt('payserv', 3, 'the payment service');
