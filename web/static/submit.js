// The submit form: a command line (split like a shell would, never run by
// one), name, GPUs, CPUs, memory and attempts, POSTed with the cluster token.

import { splitCommand } from './dom.js';
import { authorizedPost } from './token.js';

const $ = (id) => document.getElementById(id);

// Shows the outcome of a submit or cancel under the form.
export function alertResult(text, ok) {
  const el = $('submit-result');
  el.className = `form-result ${ok ? 'ok' : 'bad'}`;
  el.textContent = text;
}

export function initSubmit() {
  const form = $('submit-form');
  $('submit-toggle').addEventListener('click', () => {
    form.hidden = !form.hidden;
    if (!form.hidden) form.elements.command.focus();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const f = form.elements;
    let argv;
    try {
      argv = splitCommand(f.command.value.trim());
    } catch (err) {
      alertResult(`Command: ${err.message}`, false);
      return;
    }
    if (!argv.length) {
      alertResult('Command: enter the program to run', false);
      return;
    }
    const body = { argv, gpus: Number(f.gpus.value || 0), cpus: Number(f.cpus.value || 1),
      max_attempts: Number(f.max_attempts.value || 3) };
    if (f.name.value.trim()) body.name = f.name.value.trim();
    if (f.memory.value.trim()) body.memory = f.memory.value.trim();
    try {
      const task = await authorizedPost('/api/tasks', body);
      alertResult(`Submitted ${task.id}`, true);
      f.command.value = '';
      f.name.value = '';
    } catch (err) {
      alertResult(err.message, false);
    }
  });
}
