/** CSS files are bundled by esbuild (into main.css); importing one is a side effect only. */
declare module '*.css';
