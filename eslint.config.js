import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules', '.demo', 'coverage', 'dist'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Money must never pass through a float: forbid the helpers that would make one.
      'no-restricted-globals': ['error', { name: 'parseFloat', message: 'money is exact: use src/money/amount.ts' }],
      'no-restricted-properties': ['error', { object: 'Number', property: 'parseFloat', message: 'money is exact: use src/money/amount.ts' }],
    },
  },
  { files: ['bin/**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } } },
);
