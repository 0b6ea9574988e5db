// ESLint flat config: typescript-eslint's type-aware rules on the app, the tests and the bench.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'src/api/schema.d.ts', 'test-results/', 'playwright-report/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ['vite.config.ts', 'playwright.config.ts'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // User text must render as text: no raw HTML sinks.
      'no-restricted-properties': [
        'error',
        { property: 'innerHTML', message: 'Render user text as text (textContent / JSX).' },
        { property: 'outerHTML', message: 'Render user text as text (textContent / JSX).' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']",
          message: 'Render user text as text.',
        },
        {
          selector: "CallExpression[callee.property.name='insertAdjacentHTML']",
          message: 'Render user text as text.',
        },
      ],
      'no-console': ['error', { allow: ['warn', 'error'] }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { attributes: false } }],
    },
  },
  {
    // Plain JavaScript (config, scripts, bench): the rules that need no types.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    files: ['e2e/**', 'bench/**', 'scripts/**', '*.config.ts', 'eslint.config.js'],
    languageOptions: { globals: { ...globals.node } },
    // Playwright fixtures that use no other fixture take `{}`.
    rules: { 'no-console': 'off', 'no-empty-pattern': 'off' },
  },
  {
    files: ['src/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
