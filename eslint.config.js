// Lint config: typescript-eslint with type information for src/, test/ and bench/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'coverage/', 'scripts/', 'bin/', 'remotes/', '*.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // SPEC §1: the pure stages do no I/O and import nothing from the stages that do.
    files: ['src/config/**', 'src/template/**', 'src/domain/**', 'src/translate/**', 'src/monitor/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['node:fs', 'node:fs/promises', 'node:child_process', 'node:net', 'ssh2', 'execa'].map(
            (name) => ({
              name,
              message: 'pure stages do no I/O (SPEC §1)',
            }),
          ),
          patterns: [
            {
              group: ['**/host/*', '**/actions/*', '**/driver/*', '**/cli/*', '**/schema/*'],
              message: 'pure stages import nothing from host/, actions/, driver/ or cli/ (SPEC §1)',
            },
          ],
        },
      ],
    },
  },
  {
    // SPEC §1: host/ knows nothing of templates, domains or actions; actions never touch SSH or processes.
    files: ['src/host/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/template/*',
                '**/domain/*',
                '**/translate/*',
                '**/actions/*',
                '**/driver/*',
                '**/cli/*',
              ],
              message: 'host/ knows nothing of templates, domains or actions (SPEC §1)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/actions/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['ssh2', 'execa', 'node:child_process'].map((name) => ({
            name,
            message: 'actions run plans through the runner they are given (SPEC §1)',
          })),
          patterns: [
            {
              group: ['**/driver/*', '**/cli/*'],
              message: 'actions know nothing of the two faces (SPEC §1)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/driver/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['**/cli/*'], message: 'driver/ and cli/ do not import each other (SPEC §1)' }],
        },
      ],
    },
  },
  {
    files: ['src/cli/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/driver/*'], message: 'driver/ and cli/ do not import each other (SPEC §1)' },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
