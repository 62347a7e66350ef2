// Every integration suite, in the order they run.
import './activation.test';
import './inspector.test';
import './commands.test';
import './settings.test';
import './largeFile.test';
import './preview.test';
import './screenshots.test';
import './virtualFs.test';
import './hostPath.test';
import './groupNorm.test';
import './ui.test';
import './model.test';
import './perfLoop.test';
import './tryFile.test';
