import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { expect, test, vi } from 'vitest';
import { ApiClient } from '../api/client';
import { loadDevSession } from '../auth/devAuth';
import { mockApi } from '../test/harness';
import { DevSignIn } from './SignIn';

// header.payload.signature with exp far in the future
const TOKEN = `x.${btoa(JSON.stringify({ sub: 'ana', exp: 4102444800 }))}.y`;

test('continues as a name with a workspace and role, keeping the token for this tab', async () => {
  const { calls } = mockApi({ 'POST /dev/token': { body: { token: TOKEN } } });
  const signedIn = vi.fn();
  render(<DevSignIn api={new ApiClient('', () => null)} onSignedIn={signedIn} />);
  await userEvent.type(screen.getByLabelText('Name'), 'ana');
  await userEvent.type(screen.getByLabelText('Workspace (optional)'), 'acme');
  await userEvent.selectOptions(screen.getByLabelText('Role (optional)'), 'admin');
  await userEvent.click(screen.getByRole('button', { name: 'Continue as ana' }));
  await waitFor(() => expect(signedIn).toHaveBeenCalled());
  expect(calls[0]?.body).toEqual({ name: 'ana', workspace: 'acme', role: 'admin' });
  expect(loadDevSession()?.token).toBe(TOKEN);
});

test('a refused name shows the reason', async () => {
  mockApi({ 'POST /dev/token': { status: 400, body: { error: { code: 'invalid_name', message: 'name must be without spaces' } } } });
  render(<DevSignIn api={new ApiClient('', () => null)} onSignedIn={() => undefined} />);
  await userEvent.type(screen.getByLabelText('Name'), 'ana');
  await userEvent.click(screen.getByRole('button', { name: 'Continue as ana' }));
  expect(await screen.findByRole('alert')).toHaveTextContent('name must be without spaces');
});
