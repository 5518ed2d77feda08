// The console's entry point: mounts the application into #app (docs/console.md).
const app = document.getElementById('app');
app.textContent = 'imgarc';
