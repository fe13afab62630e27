import { defineConfig } from 'vite'

// During `npm run dev`, API and WebSocket requests go to a running collab server
// (default: ./scripts/serve on port 8000; override with COLLAB_DEV_BACKEND).
const backend = process.env.COLLAB_DEV_BACKEND || 'http://127.0.0.1:8000'

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // Tiptap + ProseMirror + Yjs make one ~520 kB chunk, loaded only on editor pages.
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: {
      '/api': { target: backend, changeOrigin: true },
      '/sync': {
        target: backend.replace(/^http/, 'ws'),
        ws: true,
        changeOrigin: true,
        // The server accepts same-origin WebSockets only: present the proxied socket as such.
        configure: (proxy) => {
          proxy.on('proxyReqWs', (proxyReq) => proxyReq.setHeader('origin', backend))
        },
      },
    },
  },
})
