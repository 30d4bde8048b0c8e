// A Bitcoin-family coin's network parameters and presets live with the configuration that names them
// (src/config/btc-network.ts: the configuration schema sits below src/chains and may not import it).
export * from '../../config/btc-network.js';
